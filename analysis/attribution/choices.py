"""The attribution methods by the names the lab lists, with the options the lab and its notebooks use."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .base import AttributionMethod
from .grad_cam import GradCAM
from .integrated_gradients import IntegratedGradients
from .occlusion import Occlusion
from .saliency import Saliency

#: Method names as the app lists them; Grad-CAM needs a layer.
METHODS = ("saliency", "integrated gradients", "Grad-CAM", "occlusion")
INTEGRATED_GRADIENT_STEPS = 16


def attribution_method(name: str, model: nn.Module, layer: str, input_size: Sequence[int]) -> AttributionMethod:
    """Method ``name`` on ``model`` (``layer``: Grad-CAM's; ``input_size``: ``C x H x W``, sizes occlusion's
    window to an eighth of the side and its stride to a sixteenth)."""
    if name == "saliency":
        return Saliency(model)
    if name == "integrated gradients":
        return IntegratedGradients(model, n_steps=INTEGRATED_GRADIENT_STEPS)
    if name == "Grad-CAM":
        return GradCAM(model, layer)
    if name == "occlusion":
        side = int(input_size[-1])
        return Occlusion(model, window_px=max(side // 8, 2), stride_px=max(side // 16, 1))
    raise ValueError(f"unknown attribution method {name!r}; choose one of {', '.join(METHODS)}")
