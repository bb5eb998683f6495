"""Optimizer (SGD, Adam, AdamW) and a per-step learning-rate schedule (warm-up, then cosine or step)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import TrainConfig


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer of ``config``; weight decay on weight matrices and kernels, not on biases or norms."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    optimizer_class = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return optimizer_class(groups, lr=config.lr)


class LearningRateFactor:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Linear warm-up from ``1 / warmup_steps`` to 1 over ``warmup_steps``; then ``cosine`` decay to 0
    at ``total_steps``, or ``step``: times ``gamma`` after each milestone (in steps).
    """

    def __init__(self, schedule: str, total_steps: int, warmup_steps: int, milestones: tuple[int, ...],
                 gamma: float) -> None:
        self.schedule = schedule
        self.total_steps = max(1, total_steps)
        self.warmup_steps = min(warmup_steps, self.total_steps)
        self.milestones = milestones
        self.gamma = gamma

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.schedule == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            progress = min(1.0, (step - self.warmup_steps) / span)
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.gamma ** sum(step >= milestone for milestone in self.milestones)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepped once per optimiser step (its ``state_dict`` holds the step count).

    The factor is wrapped in a plain function so that ``state_dict`` stores only the step count, not
    the factor's settings: a run resumed with more ``epochs`` gets the schedule of its new length.
    """
    factor = LearningRateFactor(
        config.schedule,
        total_steps=config.epochs * steps_per_epoch,
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
        milestones=tuple(m * steps_per_epoch for m in config.step_milestones()),
        gamma=config.gamma,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor(step))
