"""How one block of back-to-back calls is timed: ``torch.utils.benchmark.Timer`` on CPU, CUDA events on a GPU.

A block timer is any callable ``timer(calls) -> Block``; the engine only sees that, so tests drive it
with fake clocks through the same code as a real run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass(frozen=True)
class Block:
    """Seconds per call over one block, and the share of the asked-for CPU time the process got in it
    (process CPU time over wall time times threads; ``None`` where it means nothing, as on a GPU)."""

    seconds: float
    cpu_share: float | None = None


class BlockTimer(Protocol):
    def __call__(self, calls: int) -> Block: ...


class TorchBlockTimer:
    """``fn`` timed with ``torch.utils.benchmark.Timer.timeit(calls)`` (it sets and restores the thread
    count), with the process's CPU time measured around it to see whether other processes took the cores."""

    def __init__(self, fn: Callable[[], object], threads: int) -> None:
        from torch.utils import benchmark  # imported here: it pulls in the C++ extension machinery

        self.threads = threads
        self.timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)

    def __call__(self, calls: int) -> Block:
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        measurement = self.timer.timeit(calls)
        cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
        return Block(measurement.mean, cpu / (wall * self.threads) if wall > 0 else None)


class _Event(Protocol):
    def record(self) -> None: ...
    def synchronize(self) -> None: ...
    def elapsed_time(self, end: _Event) -> float: ...


class CudaEventBlockTimer:
    """``fn`` timed between two CUDA events recorded on the current stream (milliseconds of GPU time,
    launch overhead included when the GPU waits for the host). ``event`` and ``synchronize`` are
    ``torch.cuda.Event(enable_timing=True)`` and ``torch.cuda.synchronize`` unless a test injects fakes."""

    def __init__(
        self,
        fn: Callable[[], object],
        device: torch.device | str = "cuda",
        event: Callable[[], _Event] | None = None,
        synchronize: Callable[[], None] | None = None,
    ) -> None:
        self.fn = fn
        self.event = event or (lambda: torch.cuda.Event(enable_timing=True))
        self.synchronize = synchronize or (lambda: torch.cuda.synchronize(device))

    def __call__(self, calls: int) -> Block:
        start, end = self.event(), self.event()
        self.synchronize()  # nothing queued before the block is counted in it
        start.record()
        for _ in range(calls):
            self.fn()
        end.record()
        end.synchronize()
        return Block(start.elapsed_time(end) / 1e3 / calls)


def load_average() -> float | None:
    """The 1-minute load average (runnable processes, ours included), or ``None`` where unknown."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
