"""How one block of back-to-back calls is timed: ``time.perf_counter`` on CPU, CUDA events on a GPU.

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


class CpuBlockTimer:
    """``fn`` called ``calls`` times back to back under ``threads`` intra-op threads, timed with
    ``time.perf_counter``, with the process's CPU time measured around it to see whether other processes
    took the cores.

    Not ``torch.utils.benchmark.Timer.timeit``: it runs ``max(calls // 100, 2)`` untimed calls before
    every block, which at the one-call blocks of a ResNet-50 triples each round (measured: 78 forward
    calls for 24 blocks); the engine warms up once, until steady, instead.
    """

    def __init__(self, fn: Callable[[], object], threads: int) -> None:
        self.fn, self.threads = fn, threads

    def __call__(self, calls: int) -> Block:
        previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            for _ in range(calls):
                self.fn()
            wall, cpu = time.perf_counter() - wall_start, time.process_time() - cpu_start
        finally:
            torch.set_num_threads(previous)
        return Block(wall / calls, cpu / (wall * self.threads) if wall > 0 else None)


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
