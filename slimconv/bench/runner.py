"""A comparison run through the timing engine: rows of MACs, ratios with intervals, verdict, peak memory."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..profile import count_macs, count_params, count_training_only_params
from .cases import Comparison
from .clocks import BlockTimer, CpuBlockTimer, CudaEventBlockTimer
from .engine import EngineResult, Progress, measure
from .memory import peak_memory_bytes
from .placement import MovingInput
from .setup import BenchSetup
from .stats import MedianInterval, median_interval


@dataclass
class BenchRow:
    """One candidate's figures. ``ratio`` is the median over interleaved rounds of its time over the
    baseline's in the same round (lower is faster), ``ratio_low``/``ratio_high`` its 95% interval and
    ``noisy`` whether the interval or the run is not to be trusted (``verdict`` says why).
    ``mac_ratio`` is its MACs over the baseline's (the ideal ratio), ``ideal_share`` the speed-up
    achieved over the speed-up the MACs allow (``mac_ratio / ratio``: 1 is all of it)."""

    comparison: str
    label: str
    form: str
    params: int
    training_only_params: int
    macs: int  # for the whole batch
    median_ms: float = math.nan
    iqr_ms: float = math.nan
    runs: int = 0
    rounds: int = 0
    gflops_per_s: float = math.nan
    ratio: float = math.nan
    ratio_low: float = math.nan
    ratio_high: float = math.nan
    noisy: bool = True
    speedup: float = math.nan
    mac_ratio: float = math.nan
    ideal_share: float = math.nan
    peak_memory_bytes: int | None = None
    verdict: str = ""
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ideal_share_interval(self) -> tuple[float, float]:
        """95% interval of ``ideal_share``, from the ratio's (``mac_ratio / ratio`` falls as the ratio rises)."""
        return self.mac_ratio / self.ratio_high, self.mac_ratio / self.ratio_low


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


class _Runner:
    """A built candidate: module and input on the device, and the callable that is timed."""

    def __init__(self, module: nn.Module, shape: tuple[int, ...], setup: BenchSetup) -> None:
        device, dtype = torch.device(setup.device), setup.torch_dtype
        layout = torch.channels_last if setup.channels_last else torch.contiguous_format
        self.device = device
        self.module = module.to(device=device, dtype=dtype, memory_format=layout)
        self.input = MovingInput(torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=layout))
        if setup.mode == "training":
            self.module.train()
        if setup.compile:
            self.module = torch.compile(self.module)
        self.training = setup.mode == "training"

    def __call__(self) -> None:
        if self.training:
            self.module.zero_grad(set_to_none=True)
            self.module(self.input.tensor).float().square().mean().backward()
        else:
            with torch.inference_mode():
                self.module(self.input.tensor)

    def timed_first_call(self) -> float:
        """Seconds of one synchronised call (the first one: it checks that the candidate runs)."""
        self.sync()
        start = time.perf_counter()
        self()
        self.sync()
        return time.perf_counter() - start

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def block_timer(fn: Callable[[], object], setup: BenchSetup) -> BlockTimer:
    """CUDA events on a GPU, ``time.perf_counter`` under the setup's threads on CPU."""
    device = torch.device(setup.device)
    if device.type == "cuda":
        return CudaEventBlockTimer(fn, device)
    return CpuBlockTimer(fn, setup.threads or torch.get_num_threads())


@dataclass(frozen=True)
class ComparisonRun:
    """The rows of a comparison and the engine's result on its measured rows (``measured[i]`` is the
    row index of the engine's candidate ``i``; ``result`` is ``None`` when the baseline failed)."""

    rows: list[BenchRow]
    result: EngineResult | None
    measured: tuple[int, ...]

    def paired_ratio(self, label: str, baseline: str) -> MedianInterval:
        """Median and 95% interval of ``label``'s time over ``baseline``'s, paired round by round."""
        index = {self.rows[i].label: k for k, i in enumerate(self.measured)}
        if self.result is None or label not in index or baseline not in index:
            return MedianInterval(math.nan, math.nan, math.nan, 0.0, 0)
        a, b = self.result.blocks[index[label]], self.result.blocks[index[baseline]]
        return median_interval([x.seconds / y.seconds for x, y in zip(a, b, strict=True)])


def run_comparison(comparison: Comparison, setup: BenchSetup, progress: Progress | None = None) -> list[BenchRow]:
    """Time every candidate of ``comparison`` interleaved through the engine; the first is the baseline.

    A candidate that fails to build or run (out of memory, unsupported shape) gets a row with
    ``error`` set; the others are still measured. The baseline failing is an error of every row.
    """
    return measure_comparison(comparison, setup, progress).rows


def measure_comparison(comparison: Comparison, setup: BenchSetup, progress: Progress | None = None) -> ComparisonRun:
    """``run_comparison`` with the engine's result kept, for ratios between any two candidates."""
    rows: list[BenchRow] = []
    runners: dict[int, _Runner] = {}
    first_calls: dict[int, float] = {}
    previous = torch.get_num_threads(), torch.backends.cudnn.benchmark
    if setup.threads:
        torch.set_num_threads(setup.threads)
    torch.backends.cudnn.benchmark = True  # the GPU warm-up autotunes; no effect on CPU
    try:
        for index, candidate in enumerate(comparison.candidates):
            if progress is not None:
                progress(0.0, f"building {candidate.label}")
            row = BenchRow(comparison.name, candidate.label, candidate.form, 0, 0, 0, details=dict(candidate.details))
            rows.append(row)
            try:
                module = candidate.build_seeded()
                row.params, row.training_only_params = count_params(module), count_training_only_params(module)
                row.macs = count_macs(module, comparison.input_shape)
                runner = _Runner(module, comparison.input_shape, setup)
                first_calls[index] = runner.timed_first_call()
                runners[index] = runner
            except (RuntimeError, ValueError) as error:
                if not (_is_out_of_memory(error) or isinstance(error, ValueError)):
                    raise
                row.error = _short_error(error)
        if 0 not in runners:
            for row in rows[1:]:
                row.error = row.error or f"the baseline {rows[0].label} could not be measured"
            return ComparisonRun(rows, None, ())
        indices = list(runners)
        result = measure([block_timer(runners[i], setup) for i in indices], [rows[i].label for i in indices],
                         setup.engine_settings(), first_calls=[first_calls[i] for i in indices],
                         before_blocks=[runners[i].input.move for i in indices], progress=progress)
        _fill(rows, indices, result)
        for index in indices:
            try:
                rows[index].peak_memory_bytes = peak_memory_bytes(runners[index], runners[index].device)
            except RuntimeError as error:
                if not _is_out_of_memory(error):
                    raise
                rows[index].error = _short_error(error)
    finally:
        torch.set_num_threads(previous[0])
        torch.backends.cudnn.benchmark = previous[1]
        runners.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return ComparisonRun(rows, result, tuple(indices))


def _fill(rows: list[BenchRow], indices: list[int], result: EngineResult) -> None:
    baseline_macs = rows[0].macs
    for index, timing in zip(indices, result.candidates, strict=True):
        row = rows[index]
        row.median_ms, row.iqr_ms = timing.time.median * 1e3, timing.iqr_s * 1e3
        row.rounds, row.runs = result.rounds, result.rounds * timing.calls_per_block
        row.gflops_per_s = 2 * row.macs / timing.time.median / 1e9
        row.ratio, row.ratio_low, row.ratio_high = timing.ratio.median, timing.ratio.low, timing.ratio.high
        row.noisy, row.verdict = timing.noisy, str(result.verdict)
        row.speedup = 1 / row.ratio
        row.mac_ratio = row.macs / baseline_macs if baseline_macs else math.nan
        row.ideal_share = row.mac_ratio / row.ratio


def _short_error(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    kind = "out of memory" if _is_out_of_memory(error) else type(error).__name__
    return f"{kind}: {text[:200]}"
