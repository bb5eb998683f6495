"""Latency of one forward pass, measured by the benchmark engine (``slimconv.bench``) with its verdict."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._validate import boolean, nn_module, non_negative_int, positive_int, positive_number
from .hardware import device_name
from .profile import batch_shape, checked_forward


@dataclass(frozen=True)
class LatencyResult:
    """Median forward time with its 95% interval, interquartile range and the engine's verdict
    (``noisy`` says the figure is not to be trusted; ``verdict`` says why and what to do)."""

    median_ms: float
    iqr_ms: float
    runs: int
    low_ms: float
    high_ms: float
    noisy: bool
    verdict: str
    batch_size: int
    device: str
    device_name: str
    dtype: str
    channels_last: bool
    threads: int
    peak_memory_bytes: int | None  # CUDA only: torch's CPU allocator keeps no peak statistic


def _check_device(device: object) -> torch.device:
    try:
        device = torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is available; use device='cpu'")
    return device


def _check_dtype(dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype such as torch.float32, got {dtype!r}")
    return dtype


def measure_latency(
    model: nn.Module,
    input_size: Sequence[int],
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
    threads: int | None = None,
    warmup: int = 3,
    min_run_time_s: float = 0.5,
) -> LatencyResult:
    """Time ``model``'s eval forward on a random ``(batch_size, *input_size)`` input.

    A copy of the model is moved to ``device``/``dtype`` (the caller's model is left untouched), put in
    eval mode and run under ``torch.inference_mode``. After ``warmup`` calls (at least one: it checks
    that ``input_size`` fits the model), the benchmark engine warms it until steady and times rounds of
    blocks for about ``min_run_time_s`` (``time.perf_counter`` on CPU, CUDA events on a GPU),
    going on up to 4x as long while the 95% interval of the median is wider than ±5%. ``threads`` sets
    the intra-op CPU threads for the measurement (default: torch's current setting).
    """
    from .bench.clocks import CpuBlockTimer, CudaEventBlockTimer
    from .bench.engine import EngineSettings, measure
    from .bench.placement import MovingInput

    nn_module("model", model)
    device = _check_device(device)
    _check_dtype(dtype)
    positive_int("batch_size", batch_size)
    non_negative_int("warmup", warmup)
    positive_number("min_run_time_s", min_run_time_s)
    boolean("channels_last", channels_last)
    if threads is not None:
        positive_int("threads", threads)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    runner = copy.deepcopy(model).to(device=device, dtype=dtype, memory_format=memory_format).eval()
    x = torch.randn(batch_shape(input_size, batch_size), device=device, dtype=dtype).to(memory_format=memory_format)
    moving = MovingInput(x)
    threads = torch.get_num_threads() if threads is None else threads
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)

    def call() -> None:
        runner(moving.tensor)

    try:
        with torch.inference_mode():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            checked_forward(runner, x)
            for _ in range(warmup - 1):
                runner(x)
            timer = CudaEventBlockTimer(call, device) if device.type == "cuda" else CpuBlockTimer(call, threads)
            # Ten blocks of a tenth of the run time at least, more while the interval is wide.
            settings = EngineSettings(budget_s=4 * min_run_time_s, block_time_s=min_run_time_s / 10, min_rounds=10)
            result = measure([timer], ["model"], settings, before_blocks=[moving.move])
            peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    finally:
        torch.set_num_threads(previous_threads)
    timing = result.candidates[0]
    return LatencyResult(
        median_ms=timing.time.median * 1e3,
        iqr_ms=timing.iqr_s * 1e3,
        runs=result.rounds * timing.calls_per_block,
        low_ms=timing.time.low * 1e3,
        high_ms=timing.time.high * 1e3,
        noisy=timing.noisy,
        verdict=str(result.verdict),
        batch_size=x.shape[0],
        device=str(device),
        device_name=device_name(device),
        dtype=str(dtype).removeprefix("torch."),
        channels_last=channels_last,
        threads=threads,
        peak_memory_bytes=peak,
    )
