"""The timing engine on fake clocks: steady timings converge, noisy ones are called noisy, disturbances are named."""

from __future__ import annotations

import random
import re

import pytest

from slimconv.bench.clocks import Block, CudaEventBlockTimer
from slimconv.bench.engine import EngineSettings, Environment, measure
from slimconv.bench.stats import median_interval

QUIET = Environment(threads=lambda: 1, load=lambda: 0.5, cpus=lambda: 2)
SETTINGS = EngineSettings(budget_s=20.0, block_time_s=0.05)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeTimer:
    """Each call costs ``per_call(block_index)`` fake seconds; the clock advances by the block's length."""

    def __init__(self, clock: FakeClock, per_call, cpu_share: float | None = 1.0) -> None:
        self.clock, self.per_call, self.cpu_share, self.blocks = clock, per_call, cpu_share, 0

    def __call__(self, calls: int) -> Block:
        seconds = self.per_call(self.blocks)
        self.blocks += 1
        self.clock.now += seconds * calls
        return Block(seconds, self.cpu_share)


def jitter(base: float, spread: float, seed: int):
    rng = random.Random(seed)
    return lambda _: base * (1 + rng.uniform(-spread, spread))


def test_median_interval_is_the_order_statistic_interval():
    assert median_interval(range(10)).low == 1 and median_interval(range(10)).high == 8  # ranks 2 and 9
    big = median_interval(range(100))
    assert big.coverage >= 0.95 and (big.low, big.high) == (39, 60)
    few = median_interval([3.0, 1.0, 2.0])
    assert (few.median, few.low, few.high) == (2.0, 1.0, 3.0) and few.coverage < 0.95


def test_a_steady_clock_converges_to_the_true_ratio():
    clock = FakeClock()
    timers = [FakeTimer(clock, jitter(0.010, 0.01, 1)), FakeTimer(clock, jitter(0.005, 0.01, 2))]
    result = measure(timers, ["dense", "half"], SETTINGS, clock=clock, environment=QUIET)
    dense, half = result.candidates
    assert result.converged and not result.verdict.noisy and str(result.verdict).startswith("stable")
    assert half.ratio.median == pytest.approx(0.5, rel=0.02)
    assert half.ratio.low <= 0.5 * 1.01 and half.ratio.high >= 0.5 / 1.01 and half.ratio.half_width <= 0.05
    assert dense.ratio.median == 1.0 and not dense.noisy and not half.noisy
    assert result.rounds == SETTINGS.min_rounds and result.elapsed_s < SETTINGS.budget_s
    assert half.calls_per_block in (10, 11) and dense.calls_per_block in (5, 6)  # blocks of about 0.05 s


def test_a_noisy_clock_gives_a_noisy_verdict_and_a_wide_interval():
    clock = FakeClock()
    rng = random.Random(3)
    timers = [FakeTimer(clock, jitter(0.010, 0.01, 1)), FakeTimer(clock, lambda _: 0.005 * rng.uniform(0.5, 2.0))]
    result = measure(timers, ["dense", "erratic"], EngineSettings(budget_s=2.0), clock=clock, environment=QUIET)
    erratic = result.candidates[1]
    assert not result.converged and result.verdict.noisy and erratic.noisy
    assert erratic.ratio.half_width > 0.05 and erratic.ratio.high / erratic.ratio.low > 1.1
    assert result.verdict.spread == pytest.approx(erratic.ratio.half_width)
    text = str(result.verdict)
    assert text.startswith("NOISY") and "erratic" in text and "raise the time budget" in text
    assert clock.now >= 2.0  # it used its budget before giving up


def test_competing_processes_make_every_row_noisy_even_with_tight_intervals():
    clock = FakeClock()
    timers = [FakeTimer(clock, jitter(0.010, 0.01, 1), 0.55), FakeTimer(clock, jitter(0.005, 0.01, 2), 0.55)]
    loaded = Environment(threads=lambda: 2, load=lambda: 3.9, cpus=lambda: 2)
    result = measure(timers, ["dense", "half"], SETTINGS, clock=clock, environment=loaded)
    assert result.candidates[1].ratio.half_width <= 0.05
    assert result.verdict.noisy and all(c.noisy for c in result.candidates)
    text = str(result.verdict)
    assert "got 55% of the CPU time its 2 thread(s)" in text and "load average 3.9 on 2 core(s)" in text
    assert "close other programs" in text and "--threads 1" in text


def test_a_changing_thread_count_is_named():
    clock = FakeClock()
    counts = iter([4] * 3 + [1] * 100)
    changing = Environment(threads=lambda: next(counts), load=lambda: None, cpus=lambda: 4)
    timers = [FakeTimer(clock, lambda _: 0.01), FakeTimer(clock, lambda _: 0.02)]
    result = measure(timers, ["a", "b"], SETTINGS, clock=clock, environment=changing)
    assert result.verdict.noisy and "thread count changed during the run (4 -> 1)" in str(result.verdict)


def test_warm_up_excludes_slow_first_blocks_and_a_first_call_cost_is_noted():
    clock = FakeClock()
    cold = FakeTimer(clock, lambda block: 0.05 if block < 4 else 0.005)  # four slow blocks, then steady
    timers = [FakeTimer(clock, lambda _: 0.010), cold]
    result = measure(timers, ["dense", "cold"], SETTINGS, first_calls=[0.010, 0.5], clock=clock, environment=QUIET)
    assert result.candidates[1].ratio.median == pytest.approx(0.5) and result.candidates[1].steady
    assert not result.verdict.noisy and "first call of cold took 500.0 ms, 100x a steady call" in str(result.verdict)


def test_one_timer_judges_its_own_time_and_progress_reaches_the_end():
    clock = FakeClock()
    seen = []
    result = measure([FakeTimer(clock, jitter(0.002, 0.01, 5))], ["alone"], SETTINGS, clock=clock,
                     environment=QUIET, progress=lambda fraction, text: seen.append((fraction, text)))
    alone = result.candidates[0]
    assert alone.time.median == pytest.approx(0.002, rel=0.02) and alone.time.half_width <= 0.05
    assert not result.verdict.noisy and seen[-1][0] == 1.0 and "stable" in seen[-1][1]
    assert all(a <= b for (a, _), (b, _) in zip(seen, seen[1:], strict=False)) and "s left" in seen[0][1]


def test_too_few_rounds_cannot_be_stable():
    clock = FakeClock()
    settings = EngineSettings(budget_s=0.01, min_rounds=3, max_rounds=3)
    result = measure([FakeTimer(clock, lambda _: 0.01), FakeTimer(clock, lambda _: 0.01)], ["a", "b"], settings,
                     clock=clock, environment=QUIET)
    assert result.rounds == 3 and result.verdict.noisy and "too few for a 95% interval" in str(result.verdict)


class FakeEvent:
    def __init__(self, log: list, clock: FakeClock) -> None:
        self.log, self.clock, self.at = log, clock, None

    def record(self) -> None:
        self.at = self.clock.now
        self.log.append("record")

    def synchronize(self) -> None:
        self.log.append("event sync")

    def elapsed_time(self, end: FakeEvent) -> float:
        return (end.at - self.at) * 1e3  # milliseconds, as CUDA events give them


def test_cuda_event_timer_synchronises_and_converts_milliseconds():
    clock, log = FakeClock(), []

    def kernel() -> None:
        clock.now += 0.004
        log.append("call")

    timer = CudaEventBlockTimer(kernel, event=lambda: FakeEvent(log, clock), synchronize=lambda: log.append("sync"))
    block = timer(3)
    assert block.seconds == pytest.approx(0.004) and block.cpu_share is None
    assert log == ["sync", "record", "call", "call", "call", "record", "event sync"]
    result = measure([timer, CudaEventBlockTimer(kernel, event=lambda: FakeEvent(log, clock), synchronize=lambda: 0)],
                     ["a", "b"], SETTINGS, clock=clock, environment=QUIET)
    assert result.cpu_share is None and result.candidates[1].ratio.median == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs", [dict(budget_s=0), dict(min_rounds=0), dict(target_half_width=1.5),
                                    dict(min_rounds=5, max_rounds=4)])
def test_bad_settings_are_value_errors(kwargs):
    with pytest.raises(ValueError):
        EngineSettings(**kwargs)


def test_cpu_block_timer_calls_back_to_back_under_its_threads_and_restores_them():
    import torch

    from slimconv.bench.clocks import CpuBlockTimer

    seen, before = [], torch.get_num_threads()
    block = CpuBlockTimer(lambda: seen.append(torch.get_num_threads()), threads=1)(5)
    assert seen == [1] * 5 and torch.get_num_threads() == before
    assert block.seconds > 0 and block.cpu_share is not None and block.cpu_share >= 0


def two_speeds(fast: float, slow: float, fast_share: float, seed: int):
    """A candidate whose blocks run at one of two speeds (where its data lie in memory decides which)."""
    rng = random.Random(seed)
    return lambda _: (fast if rng.random() < fast_share else slow) * (1 + rng.uniform(-0.01, 0.01))


def test_a_baseline_at_two_speeds_leaves_every_ratio_noisy_even_when_its_interval_looks_tight():
    """Seen on a dense 3x3 conv: 9 or 16 ms by placement. Most rounds at one speed gave a tight interval
    around a ratio the next run did not reproduce; the spread of the blocks themselves says so."""
    clock = FakeClock()
    timers = [FakeTimer(clock, two_speeds(0.009, 0.016, 0.8, 3)), FakeTimer(clock, jitter(0.007, 0.01, 4)),
              FakeTimer(clock, jitter(0.010, 0.01, 5))]
    result = measure(timers, ["dense", "grouped", "other"], SETTINGS, clock=clock, environment=QUIET)
    assert result.verdict.noisy and all(c.noisy for c in result.candidates[1:])
    verdict = str(result.verdict)
    speeds = r"ran at more than one speed .*: dense (8\.9|9\.0)\d* to 16(\.\d+)? ms per call \(the baseline"
    assert re.search(speeds, verdict)
    assert "more rounds do not narrow it" in str(result.verdict)


def test_a_candidate_at_two_speeds_is_noisy_alone():
    clock = FakeClock()
    timers = [FakeTimer(clock, jitter(0.010, 0.01, 6)), FakeTimer(clock, two_speeds(0.004, 0.008, 0.5, 7)),
              FakeTimer(clock, jitter(0.005, 0.01, 8))]
    result = measure(timers, ["dense", "shaky", "steady"], SETTINGS, clock=clock, environment=QUIET)
    dense, shaky, steady = result.candidates
    assert shaky.noisy and not steady.noisy and not dense.noisy
    assert re.search(r"shaky [34]\.\d+ to [78]\.\d+ ms per call", str(result.verdict))
    assert "the baseline" not in str(result.verdict)


def test_measured_blocks_are_preceded_by_their_untimed_callable_and_the_warm_up_is_not():
    clock, calls = FakeClock(), []
    timers = [FakeTimer(clock, jitter(0.010, 0.01, 9)), FakeTimer(clock, jitter(0.005, 0.01, 10))]
    before = [lambda: calls.append(("dense", timers[0].blocks)), lambda: calls.append(("half", timers[1].blocks))]
    result = measure(timers, ["dense", "half"], SETTINGS, clock=clock, environment=QUIET, before_blocks=before)
    for name, timer in zip(("dense", "half"), timers, strict=True):
        moves = [block for who, block in calls if who == name]
        assert len(moves) == result.rounds  # once per measured block
        assert moves == list(range(timer.blocks - result.rounds, timer.blocks))  # right before each one
    with pytest.raises(ValueError, match="one before_blocks callable per timer"):
        measure(timers, ["dense", "half"], SETTINGS, clock=clock, environment=QUIET, before_blocks=before[:1])
