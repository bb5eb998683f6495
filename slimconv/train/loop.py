"""One epoch of training and one evaluation pass, on one process of a (possibly distributed) job."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..errors import NonFiniteLossError
from .distributed import DistContext, all_reduce_sum
from .regularizers import OperatorLosses

# A test kills a run at a known point, not by timing: with SLIMCONV_HOLD_AFTER_STEP="N:FILE" the run writes
# FILE after optimiser step N and waits there until it is killed.
HOLD_AFTER_STEP = "SLIMCONV_HOLD_AFTER_STEP"


def _hold_if_asked(step: int) -> None:
    request = os.environ.get(HOLD_AFTER_STEP)
    if not request:
        return
    count, _, ready_file = request.partition(":")
    if step == int(count):
        Path(ready_file).write_text(f"held after step {step}\n")
        while True:
            time.sleep(1.0)


@dataclass(frozen=True)
class EpochStats:
    """Mean task loss and accuracy (fraction) over every process's samples, and the wall time."""

    loss: float
    accuracy: float
    seconds: float


@dataclass
class Engine:
    """What a training step needs. ``model`` is what runs forward (DDP-wrapped when distributed),
    ``core`` the plain network inside it; ``step`` counts optimiser steps since the run began and
    ``last_lr`` is the learning rate of the latest one."""

    model: nn.Module
    core: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    losses: OperatorLosses
    context: DistContext
    device: torch.device
    amp: bool
    channels_last: bool
    step: int = 0
    last_lr: float = 0.0

    def _inputs(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels.to(self.device, non_blocking=True)

    def _autocast(self) -> torch.autocast:
        # CUDA: float16 with the gradient scaler; CPU: bfloat16, whose range needs no scaling.
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype, enabled=self.amp)

    def _check_finite(self, loss: torch.Tensor, epoch: int) -> None:
        """Stop every process when any one's loss is NaN or infinite (before gradients are exchanged)."""
        bad = all_reduce_sum((~torch.isfinite(loss.detach())).float().reshape(1), self.context)
        if bad.item() > 0:
            raise NonFiniteLossError(f"the loss became {loss.item()} at epoch {epoch + 1}, optimiser step {self.step}")

    def train_epoch(self, loader: DataLoader, epoch: int, epochs: int, progress: bool) -> EpochStats:
        """One pass over ``loader`` with an optimiser and scheduler step per batch."""
        self.model.train()
        start = time.perf_counter()
        totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, samples
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False, dynamic_ncols=True,
                   disable=not (progress and self.context.is_main))
        for images, labels in bar:
            images, labels = self._inputs(images, labels)
            with self._autocast():
                logits = self.model(images)
                task_loss = self.criterion(logits, labels)
            extra = self.losses(self.core, self.step)
            loss = task_loss if extra is None else task_loss + extra
            self._check_finite(loss, epoch)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.last_lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            self.losses.after_step(self.core, self.step)
            self.step += 1
            _hold_if_asked(self.step)
            batch = labels.shape[0]
            correct = (logits.argmax(dim=1) == labels).sum().item()
            totals += torch.tensor([task_loss.item() * batch, correct, batch], dtype=torch.float64)
            bar.set_postfix(loss=f"{totals[0] / totals[2]:.4f}", acc=f"{totals[1] / totals[2]:.3f}",
                            lr=f"{self.last_lr:.3g}", refresh=False)
        bar.close()
        return self._stats(totals, start)

    @torch.no_grad()
    def evaluate(self, loader: DataLoader) -> EpochStats:
        """Loss and accuracy of the plain network in eval mode on this process's share of ``loader``."""
        self.core.eval()
        start = time.perf_counter()
        totals = torch.zeros(3, dtype=torch.float64)
        for images, labels in loader:
            images, labels = self._inputs(images, labels)
            with self._autocast():
                logits = self.core(images)
            loss = nn.functional.cross_entropy(logits.float(), labels, reduction="sum")
            totals += torch.tensor([loss.item(), (logits.argmax(dim=1) == labels).sum().item(), labels.shape[0]],
                                   dtype=torch.float64)
        return self._stats(totals, start)

    def _stats(self, totals: torch.Tensor, start: float) -> EpochStats:
        totals = all_reduce_sum(totals.to(self.device), self.context).cpu()
        samples = max(int(totals[2]), 1)
        return EpochStats(loss=float(totals[0]) / samples, accuracy=float(totals[1]) / samples,
                          seconds=time.perf_counter() - start)
