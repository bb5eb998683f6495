"""Shared base of the attribution methods (captum): one call signature, one result type.

Every method is built as ``Method(model, **options)`` and called as
``method.attribute(images, target=None) -> AttributionMaps``. The model runs in eval mode (its
modes are restored after) and every hook attached during the call, by captum or otherwise, is
removed on exit, even when the call fails.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .._running import Target, eval_mode, images_for, logits_of, resolve_targets, run_model
from ..hooks import hook_guard
from ..numeric_warnings import AnalysisWarning


@dataclass(frozen=True)
class AttributionMaps:
    """Attributions of ``B`` images to their target classes.

    ``attributions``: ``B x C x H x W`` as the method gives them (Grad-CAM: ``B x 1 x H x W``,
    upsampled to the image). ``heatmaps``: ``B x H x W``, one map per image (each method's
    docstring says how channels are combined). ``targets``: ``B`` long. ``method``: its name.
    """

    method: str
    attributions: torch.Tensor
    heatmaps: torch.Tensor
    targets: torch.Tensor

    def blank_note(self) -> str | None:
        """What an all-zero heatmap means, naming the images; ``None`` when every heatmap shows something."""
        blank = (self.heatmaps.flatten(1).abs().amax(dim=1) == 0).nonzero().flatten().tolist()
        if not blank:
            return None
        return (f"{self.method}: the class score does not change with the pixels of image(s) {blank[:8]} (an "
                "all-zero attribution: a constant image, or a model whose output ignores its input); their "
                "heatmaps are blank")


class AttributionMethod(ABC):
    """Base class: subclasses set ``name`` and implement ``_attribute`` and ``_heatmap``."""

    name: ClassVar[str] = ""

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model

    def attribute(self, images: torch.Tensor, target: Target = None) -> AttributionMaps:
        """Attribute the ``target`` class score (default: each image's predicted class) of every image
        of ``images`` (``B x C x H x W``) to its pixels."""
        images = images_for(self.model, images)
        with hook_guard(self.model), eval_mode(self.model):
            with torch.no_grad():
                logits = logits_of(run_model(self.model, images))
            targets = resolve_targets(target, logits)
            raw = self._attribute(images, targets.to(images.device)).detach()
        raw = raw.to("cpu", torch.float32)
        if not bool(torch.isfinite(raw).all()):
            raise ValueError(f"{self.name}: the attributions hold NaN or infinite values (the gradients of the class "
                             "score overflowed); use a trained model with finite weights or other images")
        result = AttributionMaps(method=self.name, attributions=raw, heatmaps=self._heatmap(raw), targets=targets)
        if (note := result.blank_note()) is not None:
            warnings.warn(AnalysisWarning(note), stacklevel=2)
        return result

    @abstractmethod
    def _attribute(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``B x C' x H x W`` attributions for ``images`` and ``targets`` (``B`` long)."""

    @abstractmethod
    def _heatmap(self, attributions: torch.Tensor) -> torch.Tensor:
        """``B x H x W`` from the attributions."""
