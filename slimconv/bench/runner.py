"""Interleaved timing of a comparison: A B A B rounds, median and IQR, MACs, GFLOP/s, peak memory."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..profile import count_macs, count_params, count_training_only_params
from .cases import Comparison
from .memory import peak_memory_bytes
from .setup import BenchSetup

Progress = Callable[[int, int, str], None]


@dataclass
class BenchRow:
    """One candidate's figures; ``ratio`` is its median time over the baseline's (lower is better)."""

    comparison: str
    label: str
    form: str
    params: int
    training_only_params: int
    macs: int  # for the whole batch
    median_ms: float = math.nan
    iqr_ms: float = math.nan
    runs: int = 0
    gflops_per_s: float = math.nan
    ratio: float = math.nan
    speedup: float = math.nan
    peak_memory_bytes: int | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


class _Runner:
    """A built candidate: module and input on the device, and the callable that is timed."""

    def __init__(self, module: nn.Module, shape: tuple[int, ...], setup: BenchSetup) -> None:
        device, dtype = torch.device(setup.device), setup.torch_dtype
        layout = torch.channels_last if setup.channels_last else torch.contiguous_format
        self.device = device
        self.module = module.to(device=device, dtype=dtype, memory_format=layout)
        self.x = torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=layout)
        if setup.mode == "training":
            self.module.train()
        if setup.compile:
            self.module = torch.compile(self.module)
        self.training = setup.mode == "training"

    def __call__(self) -> None:
        if self.training:
            self.module.zero_grad(set_to_none=True)
            self.module(self.x).float().square().mean().backward()
        else:
            with torch.inference_mode():
                self.module(self.x)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def time_block(self, calls: int) -> float:
        """Mean seconds per call over ``calls`` back-to-back calls."""
        self.sync()
        start = time.perf_counter()
        for _ in range(calls):
            self()
        self.sync()
        return (time.perf_counter() - start) / calls


def run_comparison(comparison: Comparison, setup: BenchSetup, progress: Progress | None = None) -> list[BenchRow]:
    """Time every candidate of ``comparison`` interleaved; the first one is the baseline.

    A candidate that fails to build or run (out of memory, unsupported shape) gets a row with
    ``error`` set; the others are still measured.
    """
    rows: list[BenchRow] = []
    runners: dict[int, tuple[_Runner, int]] = {}
    # Building is one step per candidate; timing and memory are counted once the built ones are known.
    total_steps = len(comparison.candidates) * (setup.rounds + 2)
    step = 0

    def advance(label: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(step, total_steps, label)

    previous_threads = torch.get_num_threads()
    if setup.threads:
        torch.set_num_threads(setup.threads)
    try:
        for index, candidate in enumerate(comparison.candidates):
            row = BenchRow(comparison.name, candidate.label, candidate.form, 0, 0, 0, details=dict(candidate.details))
            rows.append(row)
            try:
                module = candidate.build()
                row.params, row.training_only_params = count_params(module), count_training_only_params(module)
                row.macs = count_macs(module, comparison.input_shape)
                runner = _Runner(module, comparison.input_shape, setup)
                for _ in range(setup.warmup):
                    runner()
                once = runner.time_block(1)
                runners[index] = (runner, max(1, math.ceil(setup.min_block_time_s / max(once, 1e-9))))
            except (RuntimeError, ValueError) as error:
                if not (_is_out_of_memory(error) or isinstance(error, ValueError)):
                    raise
                row.error = _short_error(error)
            advance(candidate.label)
        total_steps = len(comparison.candidates) + (setup.rounds + 1) * len(runners)
        times: dict[int, list[float]] = {index: [] for index in runners}
        for _ in range(setup.rounds):
            for index, (runner, calls) in runners.items():
                try:
                    times[index].append(runner.time_block(calls))
                except RuntimeError as error:
                    if not _is_out_of_memory(error):
                        raise
                    rows[index].error = _short_error(error)
                advance(rows[index].label)
        for index, (runner, calls) in runners.items():
            row = rows[index]
            samples = times[index]
            if samples and row.error is None:
                row.median_ms = statistics.median(samples) * 1e3
                quartiles = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
                row.iqr_ms = (quartiles[2] - quartiles[0]) * 1e3
                row.runs = len(samples) * calls
                row.gflops_per_s = 2 * row.macs / (row.median_ms * 1e-3) / 1e9
                try:
                    row.peak_memory_bytes = peak_memory_bytes(runner, runner.device)
                except RuntimeError as error:
                    if not _is_out_of_memory(error):
                        raise
                    row.error = _short_error(error)
            advance(row.label)
    finally:
        torch.set_num_threads(previous_threads)
        runners.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    baseline = rows[0].median_ms
    for row in rows:
        row.ratio = row.median_ms / baseline
        row.speedup = baseline / row.median_ms
    return rows


def _short_error(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    kind = "out of memory" if _is_out_of_memory(error) else type(error).__name__
    return f"{kind}: {text[:200]}"
