"""Occlusion (Zeiler & Fergus, 2014): the drop in class score when a square patch is blanked."""

from __future__ import annotations

import torch
from captum.attr import Occlusion as _CaptumOcclusion
from torch import nn

from slimconv._validate import finite_number, positive_int

from .base import AttributionMethod


class Occlusion(AttributionMethod):
    """A ``window_px`` square of every colour channel, moved by ``stride_px``, is set to
    ``baseline``; each pixel gets the mean score drop of the windows covering it. At most
    ``perturbations_per_eval`` occluded copies per image go through the model at once.
    Heatmap: the sum over colour channels."""

    name = "occlusion"

    def __init__(
        self,
        model: nn.Module,
        *,
        window_px: int = 16,
        stride_px: int = 8,
        baseline: float = 0.0,
        perturbations_per_eval: int = 16,
    ) -> None:
        super().__init__(model)
        self.window_px = positive_int("window_px", window_px)
        self.stride_px = positive_int("stride_px", stride_px)
        self.perturbations_per_eval = positive_int("perturbations_per_eval", perturbations_per_eval)
        self.baseline = finite_number("baseline", baseline)

    def _attribute(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        channels, height, width = images.shape[1:]
        if self.window_px > min(height, width):
            raise ValueError(f"window_px={self.window_px} is larger than the {height} x {width} image")
        with torch.no_grad():
            return _CaptumOcclusion(self.model).attribute(
                images,
                sliding_window_shapes=(channels, self.window_px, self.window_px),
                strides=(channels, self.stride_px, self.stride_px),
                baselines=self.baseline,
                target=targets,
                perturbations_per_eval=self.perturbations_per_eval,
            )

    def _heatmap(self, attributions: torch.Tensor) -> torch.Tensor:
        return attributions.sum(dim=1)
