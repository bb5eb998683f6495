"""The resumable part of a run's checkpoint, and a fingerprint of a model's state."""

from __future__ import annotations

import hashlib
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ..pretrained import CheckpointContents
from .config import TrainConfig
from .distributed import DistContext
from .loop import Engine
from .rng import restore_rng_state


def training_state(engine: Engine, epoch: int, config: TrainConfig, history: list[dict[str, Any]],
                   rng_states: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything beyond the weights that an exact continuation needs, after ``epoch`` epochs."""
    return {
        "epoch": epoch,
        "global_step": engine.step,
        "optimizer": engine.optimizer.state_dict(),
        "scheduler": engine.scheduler.state_dict(),
        "scaler": engine.scaler.state_dict(),
        "rng": rng_states,
        "world_size": len(rng_states),
        "config": config.to_dict(),
        "history": history,
    }


def check_resumable(contents: CheckpointContents, config: TrainConfig, context: DistContext) -> dict[str, Any]:
    """The training state of a run's checkpoint, if ``config`` may continue it; else ``CheckpointError``."""
    training = contents.training
    if training is None or "config" not in training:
        raise CheckpointError(f"{contents.source} holds weights only (no optimizer and RNG state); it cannot be "
                              "resumed. Start a new run (another --out)")
    differences = config.differences(training["config"])
    if differences:
        raise CheckpointError(f"--resume with other settings than the saved run ({'; '.join(differences)}); "
                              "repeat the original command with --resume, or start a new run in another --out")
    if training["world_size"] != context.world_size:
        raise CheckpointError(f"the run was saved with {training['world_size']} process(es), this one has "
                              f"{context.world_size}; resume with the same --nproc_per_node")
    return training


def apply_training_state(engine: Engine, state_dict: dict[str, torch.Tensor], training: dict[str, Any]) -> int:
    """Load weights, optimizer, scheduler and scaler into ``engine``; return the epochs already done.

    RNG states are restored separately (``restore_rank_rng``) right before training continues.
    """
    engine.core.load_state_dict(state_dict)
    engine.optimizer.load_state_dict(training["optimizer"])
    engine.scheduler.load_state_dict(training["scheduler"])
    engine.scaler.load_state_dict(training["scaler"])
    engine.step = int(training["global_step"])
    return int(training["epoch"])


def restore_rank_rng(training: dict[str, Any], context: DistContext) -> None:
    """Set this process's random states (torch, CUDA, NumPy, Python) to those saved with the checkpoint."""
    restore_rng_state(training["rng"][context.rank])


def state_sha256(model: nn.Module) -> str:
    """SHA-256 of every parameter and buffer (names, dtypes, shapes, bytes): equal iff the states are."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
