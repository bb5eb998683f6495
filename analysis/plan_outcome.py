"""What a slimming plan did to the model's predictions: top-1 agreement with the original, accuracy with a
95% Wilson interval, and the CKA of each layer's output to the same layer of the original."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from slimconv._validate import nn_module

from ._running import eval_mode, images_for, logits_of, run_model
from .cka import cka_from_grams, layer_grams

_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Proportion:
    """``hits`` of ``count`` with its 95% Wilson score interval ``[low, high]``."""

    hits: int
    count: int

    @property
    def value(self) -> float:
        return self.hits / self.count

    @property
    def interval(self) -> tuple[float, float]:
        n, p = self.count, self.value
        centre = (p + _Z95**2 / (2 * n)) / (1 + _Z95**2 / n)
        half = _Z95 * math.sqrt(p * (1 - p) / n + _Z95**2 / (4 * n * n)) / (1 + _Z95**2 / n)
        return max(0.0, centre - half), min(1.0, centre + half)

    def __str__(self) -> str:
        low, high = self.interval
        return f"{self.value:.1%} ({self.hits}/{self.count}, 95% interval {low:.0%}-{high:.0%})"


def predicted_classes(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Top-1 class of each of ``images`` (``B x C x H x W``): ``B`` long, on the CPU (eval mode, no grad)."""
    nn_module("model", model)
    images = images_for(model, images)
    with eval_mode(model), torch.no_grad():
        return logits_of(run_model(model, images)).argmax(dim=1).cpu()


def _proportion(hits: torch.Tensor) -> Proportion:
    if hits.numel() == 0:
        raise ValueError("no images to count: give at least one")
    return Proportion(int(hits.sum()), int(hits.numel()))


def top1_agreement(classes_a: torch.Tensor, classes_b: torch.Tensor) -> Proportion:
    """Share of images on which two models predict the same class (``B`` long each)."""
    if classes_a.shape != classes_b.shape:
        raise ValueError(f"the two predictions differ in shape: {tuple(classes_a.shape)} and {tuple(classes_b.shape)}")
    return _proportion(classes_a == classes_b)


def accuracy(classes: torch.Tensor, labels: torch.Tensor) -> Proportion:
    """Share of ``classes`` (``B`` long) equal to ``labels`` (``B`` long)."""
    return top1_agreement(classes, labels.to(classes.device))


def layer_cka_to_original(original: nn.Module, planned: nn.Module, images: torch.Tensor,
                          layer_names: Sequence[str]) -> dict[str, float]:
    """Debiased linear CKA between each named layer's output in ``original`` and in ``planned`` (the layer of
    the same name, replaced or not) on ``images`` (at least 4): 1 where the plan kept what the layer
    represents. NaN where a layer's output does not vary over the images."""
    grams_a = layer_grams(original, images, list(layer_names))
    grams_b = layer_grams(planned, images, list(layer_names))
    return {name: cka_from_grams(grams_a[name], grams_b[name], debiased=True) for name in layer_names}
