"""The one timing engine: interleaved rounds, warm-up until steady, paired ratios, intervals, a verdict.

Every candidate is timed once per round, in a shuffled order, so that a slow spell of the machine
hits all of them alike; a candidate's ratio is the median over rounds of its block time over the
baseline's (candidate 0) in the same round, with a 95% order-statistic interval. Rounds are added
until every interval is within ``target_half_width`` or the time budget is spent. Before each measured
block the caller may move the candidate's data (``before_blocks``: the runner copies the input to fresh
memory), so that rounds sample memory placements; a candidate whose blocks then spread over more than
one speed is noisy, and a baseline that does taints every ratio.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .clocks import Block, BlockTimer, cpu_count, load_average
from .stats import MedianInterval, decile_spread, interquartile_range, median_interval
from .verdict import FIRST_CALL_FACTOR, MAX_DECILE_SPREAD, Verdict, judge

#: ``progress(fraction, text)``: fraction done in [0, 1] and a line with the round and time left.
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class EngineSettings:
    """``budget_s``: seconds for the whole measurement (warm-up included); ``min_rounds`` always run.
    ``block_time_s``: length of one timed block of back-to-back calls."""

    budget_s: float = 15.0
    target_half_width: float = 0.05
    min_rounds: int = 6
    max_rounds: int = 1000
    block_time_s: float = 0.05
    max_warmup_blocks: int = 8
    steady_tolerance: float = 0.10
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.budget_s > 0 and self.block_time_s > 0 and 0 < self.target_half_width < 1):
            raise ValueError("budget_s and block_time_s must be > 0, target_half_width in (0, 1)")
        if self.min_rounds < 1 or self.max_rounds < self.min_rounds or self.max_warmup_blocks < 1:
            raise ValueError("min_rounds must be >= 1, max_rounds >= min_rounds, max_warmup_blocks >= 1")


@dataclass(frozen=True)
class Environment:
    """Where the engine looks for disturbances; tests inject fixed values."""

    threads: Callable[[], int] = torch.get_num_threads
    load: Callable[[], float | None] = load_average
    cpus: Callable[[], int] = cpu_count


@dataclass(frozen=True)
class CandidateTiming:
    """One candidate: per-call time (median, IQR, interval over its blocks), its ratio to the baseline
    (paired per round; 1 for the baseline itself) with the ratio's 95% interval, and ``noisy``."""

    time: MedianInterval
    iqr_s: float
    ratio: MedianInterval
    calls_per_block: int
    first_call_s: float | None
    steady: bool
    noisy: bool


@dataclass(frozen=True)
class EngineResult:
    candidates: tuple[CandidateTiming, ...]
    rounds: int
    elapsed_s: float
    converged: bool
    cpu_share: float | None
    verdict: Verdict
    blocks: tuple[tuple[Block, ...], ...] = field(repr=False, default=())


def _warm_up(timer: BlockTimer, settings: EngineSettings, deadline: float, clock: Callable[[], float]):
    """Blocks until three in a row agree within ``steady_tolerance``; returns (calls per block, steady)."""
    once = timer(1).seconds
    calls = max(1, math.ceil(settings.block_time_s / max(once, 1e-9)))
    history: list[float] = []
    while True:
        history.append(timer(calls).seconds)
        last = history[-3:]
        if len(last) == 3 and max(last) <= (1 + settings.steady_tolerance) * min(last):
            steady = True
            break
        if len(history) >= settings.max_warmup_blocks or clock() >= deadline:
            steady = False
            break
    per_call = statistics.median(history[-3:])
    return max(1, math.ceil(settings.block_time_s / max(per_call, 1e-9))), steady


def measure(
    timers: Sequence[BlockTimer],
    labels: Sequence[str],
    settings: EngineSettings = EngineSettings(),
    *,
    first_calls: Sequence[float | None] | None = None,
    before_blocks: Sequence[Callable[[], object]] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    environment: Environment = Environment(),
    progress: Progress | None = None,
) -> EngineResult:
    """Time ``timers`` interleaved against ``timers[0]``; with one timer, its own time is judged.

    ``first_calls``: seconds of each candidate's very first call (made by the caller, which checks it
    runs), reported when it dwarfs a steady call. ``before_blocks``: one untimed callable per candidate,
    called before each of its measured blocks (not during the warm-up): the runner moves the input to
    fresh memory there, so that the rounds sample memory placements instead of keeping one.
    """
    if not timers or len(timers) != len(labels):
        raise ValueError("measure needs one label per timer and at least one timer")
    if before_blocks is not None and len(before_blocks) != len(timers):
        raise ValueError("measure needs one before_blocks callable per timer")
    start = clock()
    threads_seen = [environment.threads()]
    load_before = environment.load()
    warm_deadline = start + 0.3 * settings.budget_s
    calls, steady = [], []
    for index, timer in enumerate(timers):
        share_left = (warm_deadline - clock()) / (len(timers) - index)
        block_calls, is_steady = _warm_up(timer, settings, clock() + max(share_left, 0.0), clock)
        calls.append(block_calls)
        steady.append(is_steady)
        _report(progress, clock() - start, settings, f"warming up {labels[index]}")
    rng = random.Random(settings.seed)
    blocks: list[list[Block]] = [[] for _ in timers]
    rounds, converged = 0, False
    while True:
        for index in rng.sample(range(len(timers)), len(timers)):
            if before_blocks is not None:
                before_blocks[index]()
            blocks[index].append(timers[index](calls[index]))
        rounds += 1
        threads_seen.append(environment.threads())
        elapsed = clock() - start
        if rounds >= settings.min_rounds:
            widths = _half_widths(blocks)
            converged = all(width <= settings.target_half_width for width in widths)
            if converged or elapsed >= settings.budget_s or rounds >= settings.max_rounds:
                break
        _report(progress, elapsed, settings, f"round {rounds}" + _width_text(blocks, rounds, settings))
    result = _result(blocks, labels, calls, steady, first_calls, settings, converged, clock() - start, rounds,
                     threads_seen, [v for v in (load_before, environment.load()) if v is not None], environment)
    if progress is not None:
        progress(1.0, f"{rounds} rounds in {result.elapsed_s:.1f} s: {result.verdict.label}")
    return result


def _ratios(blocks: list[list[Block]], index: int) -> list[float]:
    return [b.seconds / base.seconds for b, base in zip(blocks[index], blocks[0], strict=True)]


def _statistic(blocks: list[list[Block]], index: int) -> MedianInterval:
    """What is judged: the ratio to the baseline, or the time itself when there is no baseline to pair."""
    if len(blocks) == 1:
        return median_interval([b.seconds for b in blocks[0]])
    if index == 0:
        return MedianInterval(1.0, 1.0, 1.0, 1.0, len(blocks[0]))
    return median_interval(_ratios(blocks, index))


def _half_widths(blocks: list[list[Block]]) -> list[float]:
    return [_statistic(blocks, index).half_width for index in range(len(blocks))]


def _width_text(blocks: list[list[Block]], rounds: int, settings: EngineSettings) -> str:
    if rounds < 2:
        return ""
    return f": intervals within ±{max(_half_widths(blocks)):.1%} (target ±{settings.target_half_width:.0%})"


def _speeds_text(label: str, column: list[Block], baseline: bool) -> str:
    deciles = statistics.quantiles([b.seconds for b in column], n=10, method="inclusive")
    text = f"{label} {deciles[0] * 1e3:.3g} to {deciles[-1] * 1e3:.3g} ms per call"
    return text + (" (the baseline: every ratio to it depends on which speed most rounds caught)" if baseline else "")


def _report(progress: Progress | None, elapsed: float, settings: EngineSettings, text: str) -> None:
    if progress is not None:
        left = max(settings.budget_s - elapsed, 0.0)
        progress(min(elapsed / settings.budget_s, 0.99), f"{text}; at most ~{left:.0f} s left")


def _result(blocks, labels, calls, steady, first_calls, settings, converged, elapsed, rounds, threads_seen, loads,
            environment) -> EngineResult:
    statistics_ = [_statistic(blocks, index) for index in range(len(blocks))]
    shares = [b.cpu_share for column in blocks for b in column if b.cpu_share is not None]
    cpu_share = statistics.median(shares) if shares else None
    target = settings.target_half_width
    wide = [f"{labels[i]} ±{s.half_width:.0%}" for i, s in enumerate(statistics_) if s.half_width > target]
    notes = []
    # a candidate at more than one speed taints its own figures; the baseline's taints every ratio
    unsteady = [decile_spread([b.seconds for b in column]) > MAX_DECILE_SPREAD for column in blocks]
    tainted = [unsteady[index] or unsteady[0] for index in range(len(blocks))]
    for index, label in enumerate(labels):
        median = statistics.median(b.seconds for b in blocks[index])
        first = first_calls[index] if first_calls else None
        if first is not None and first > FIRST_CALL_FACTOR * median and first - median > 1e-3:
            notes.append(f"first call of {label} took {first * 1e3:.1f} ms, {first / median:.0f}x a steady call "
                         "(excluded: the warm-up ran until steady)")
        if not steady[index]:
            notes.append(f"the warm-up of {label} did not settle within {settings.max_warmup_blocks} blocks")
    verdict = judge(spread=max(s.half_width for s in statistics_), target=target, wide=wide, rounds=rounds,
                    coverage=min(s.coverage for s in statistics_), converged_in_budget=converged,
                    cpu_share=cpu_share, threads=threads_seen[0], load=max(loads) if loads else None,
                    cpus=environment.cpus(), thread_counts=threads_seen, notes=notes,
                    speeds=[_speeds_text(labels[i], blocks[i], i == 0 and len(blocks) > 1)
                            for i in range(len(blocks)) if unsteady[i]])
    candidates = []
    for index in range(len(blocks)):
        times = [b.seconds for b in blocks[index]]
        ratio = median_interval(_ratios(blocks, index)) if index else MedianInterval(1.0, 1.0, 1.0, 1.0, rounds)
        own = statistics_[index]
        candidates.append(CandidateTiming(
            time=median_interval(times), iqr_s=interquartile_range(times), ratio=ratio,
            calls_per_block=calls[index], first_call_s=first_calls[index] if first_calls else None,
            steady=steady[index],
            noisy=verdict.whole_run or own.half_width > target or own.coverage < 0.95 or tainted[index]))
    return EngineResult(tuple(candidates), rounds, elapsed, converged, cpu_share, verdict,
                        tuple(tuple(column) for column in blocks))
