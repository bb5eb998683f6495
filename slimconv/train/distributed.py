"""Multi-process training with PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

``torchrun --nproc_per_node N -m slimconv.train ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
and the rendezvous address; every process then runs the same trainer. Backend: NCCL on CUDA, gloo
on CPU. Rank 0 alone writes logs and checkpoints; the others wait at a barrier before reading them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: ``rank`` of ``world_size`` (1 and 0 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # this trainer created the process group and destroys it at the end

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(requested: str | None, local_rank: int) -> torch.device:
    """``requested`` or the best available device; under torchrun on CUDA, GPU ``local_rank``."""
    device = torch.device(requested or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group that torchrun describes (gloo on CPU, NCCL on CUDA); a no-op without it."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), owns_group=owns_group)


def local_rank_from_env() -> int:
    """The GPU index torchrun gives this process (0 without torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def shutdown(context: DistContext) -> None:
    """Leave the process group if this trainer created it."""
    if context.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistContext) -> None:
    if context.is_distributed:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, context: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over the processes, in place (unchanged in a single process)."""
    if context.is_distributed:
        dist.all_reduce(tensor)
    return tensor


def gather_objects(value: Any, context: DistContext) -> list[Any]:
    """Every process's ``value``, in rank order (on every process)."""
    if not context.is_distributed:
        return [value]
    values: list[Any] = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values


def broadcast_buffers(model: nn.Module, context: DistContext) -> None:
    """Give every process rank 0's buffers (BatchNorm statistics drift apart within an epoch)."""
    if context.is_distributed:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def wrap_model(model: nn.Module, context: DistContext, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel when distributed (parameters broadcast from rank 0)."""
    if not context.is_distributed:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
