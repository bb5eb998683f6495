"""Latency of one forward pass, measured with ``torch.utils.benchmark`` (CUDA-synchronised)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .hardware import device_name
from .profile import batch_shape


@dataclass(frozen=True)
class LatencyResult:
    """Median and interquartile range of the forward time, with the setup it was measured on."""

    median_ms: float
    iqr_ms: float
    runs: int
    batch_size: int
    device: str
    device_name: str
    dtype: str
    channels_last: bool
    threads: int
    peak_memory_bytes: int | None  # CUDA only: torch's CPU allocator keeps no peak statistic


def _check_device(device: torch.device) -> None:
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is available; use device='cpu'")


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
    eval mode and run under ``torch.inference_mode``. After ``warmup`` calls, ``blocked_autorange``
    repeats it for at least ``min_run_time_s`` (synchronising CUDA). ``threads`` sets the intra-op CPU
    threads for the measurement (default: torch's current setting).
    """
    from torch.utils import benchmark  # imported here: it pulls in the C++ extension machinery

    device = torch.device(device)
    _check_device(device)
    if batch_size < 1 or warmup < 0 or min_run_time_s <= 0:
        raise ValueError("batch_size must be >= 1, warmup >= 0 and min_run_time_s > 0")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    runner = copy.deepcopy(model).to(device=device, dtype=dtype, memory_format=memory_format).eval()
    x = torch.randn(batch_shape(input_size, batch_size), device=device, dtype=dtype).to(memory_format=memory_format)
    threads = threads or torch.get_num_threads()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            for _ in range(warmup):
                runner(x)
            timer = benchmark.Timer(stmt="runner(x)", globals={"runner": runner, "x": x}, num_threads=threads)
            measurement = timer.blocked_autorange(min_run_time=min_run_time_s)
            peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    finally:
        torch.set_num_threads(previous_threads)
    return LatencyResult(
        median_ms=measurement.median * 1e3,
        iqr_ms=measurement.iqr * 1e3,
        runs=measurement.number_per_run * len(measurement.times),
        batch_size=x.shape[0],
        device=str(device),
        device_name=device_name(device),
        dtype=str(dtype).removeprefix("torch."),
        channels_last=channels_last,
        threads=threads,
        peak_memory_bytes=peak,
    )
