"""Integrated gradients (Sundararajan et al., 2017) from a constant baseline image."""

from __future__ import annotations

import torch
from captum.attr import IntegratedGradients as _CaptumIntegratedGradients
from torch import nn

from slimconv._validate import finite_number, positive_int

from .base import AttributionMethod


class IntegratedGradients(AttributionMethod):
    """Path integral of the gradient from ``baseline`` (a constant, 0 = the normalised mean image)
    to the image in ``n_steps`` steps. Memory is bounded: at most ``internal_batch_size`` path
    points go through the model at once. Heatmap: the sum over colour channels (signed)."""

    name = "integrated gradients"

    def __init__(
        self, model: nn.Module, *, n_steps: int = 32, internal_batch_size: int = 16, baseline: float = 0.0
    ) -> None:
        super().__init__(model)
        self.n_steps = positive_int("n_steps", n_steps)
        self.internal_batch_size = positive_int("internal_batch_size", internal_batch_size)
        self.baseline = finite_number("baseline", baseline)

    def _attribute(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        images.requires_grad_(True)
        return _CaptumIntegratedGradients(self.model).attribute(
            images,
            baselines=self.baseline,
            target=targets,
            n_steps=self.n_steps,
            internal_batch_size=self.internal_batch_size,
        )

    def _heatmap(self, attributions: torch.Tensor) -> torch.Tensor:
        return attributions.sum(dim=1)
