"""Saliency (Simonyan et al., 2014): the absolute gradient of the class score at each pixel."""

from __future__ import annotations

import torch
from captum.attr import Saliency as _CaptumSaliency

from .base import AttributionMethod


class Saliency(AttributionMethod):
    """``|d score / d pixel|``; heatmap: the maximum over colour channels (as in the paper)."""

    name = "saliency"

    def _attribute(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        images.requires_grad_(True)
        return _CaptumSaliency(self.model).attribute(images, target=targets, abs=True)

    def _heatmap(self, attributions: torch.Tensor) -> torch.Tensor:
        return attributions.amax(dim=1)
