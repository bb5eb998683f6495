"""Grad-CAM (Selvaraju et al., 2017) on one convolutional layer, upsampled to the image."""

from __future__ import annotations

import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from slimconv._validate import text

from ..hooks import resolve_layers
from .base import AttributionMethod


class GradCAM(AttributionMethod):
    """``ReLU(sum_c mean(d score / d A_c) A_c)`` for the maps ``A`` of ``layer_name``, bilinearly
    upsampled to the image size. Attributions and heatmap: that one map (``B x 1 x H x W``)."""

    name = "Grad-CAM"

    def __init__(self, model: nn.Module, layer_name: str) -> None:
        super().__init__(model)
        self.layer_name = text("layer_name", layer_name)
        self.layer = resolve_layers(model, [layer_name])[layer_name]

    def _attribute(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        cam = LayerGradCam(self.model, self.layer).attribute(images, target=targets, relu_attributions=True)
        return LayerAttribution.interpolate(cam, tuple(images.shape[2:]), interpolate_mode="bilinear")

    def _heatmap(self, attributions: torch.Tensor) -> torch.Tensor:
        return attributions[:, 0]
