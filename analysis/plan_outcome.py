"""What a slimming plan did to the model's predictions: top-1 agreement with the original, accuracy with a
95% Wilson interval, and the CKA of each layer's output to the same layer of the original; and the comparison
that times the planned model against the original with the measurement engine (:mod:`slimconv.bench`).

:func:`plan_outcome` gathers them for the Plan page and the notebook it writes (the same numbers in both)."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

import slimconv
from slimconv._validate import nn_module
from slimconv.bench import Candidate, Comparison

from ._running import eval_mode, images_for, logits_of, run_model
from .cka import cka_from_grams, layer_grams
from .hooks import conv_layer_names
from .plan import deploy_macs

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


@dataclass(frozen=True)
class PlanOutcome:
    """The original and the planned model side by side on the same images: parameters (trained form) and MACs
    (deploy form, one image), top-1 ``agreement``, ``accuracy_*`` (``None`` without labels) and
    ``layer_cka`` (debiased linear CKA of every convolution's output to the original's, NaN where undefined)."""

    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    agreement: Proportion
    accuracy_before: Proportion | None
    accuracy_after: Proportion | None
    layer_cka: dict[str, float]

    def to_rows(self) -> list[dict[str, object]]:
        """``quantity``, ``original``, ``planned`` and ``planned / original`` per quantity, as text."""
        rows = [{"quantity": "parameters", "original": f"{self.params_before:,}", "planned": f"{self.params_after:,}",
                 "planned / original": f"{self.params_after / self.params_before:.3f}"},
                {"quantity": "MACs per image (deploy form)", "original": f"{self.macs_before:,}",
                 "planned": f"{self.macs_after:,}", "planned / original": f"{self.macs_after / self.macs_before:.3f}"},
                {"quantity": "top-1 agreement with the original", "original": "100%", "planned": str(self.agreement),
                 "planned / original": ""}]
        if self.accuracy_before is not None and self.accuracy_after is not None:
            rows.append({"quantity": "accuracy", "original": str(self.accuracy_before),
                         "planned": str(self.accuracy_after), "planned / original":
                         f"{self.accuracy_after.value / self.accuracy_before.value:.3f}"
                         if self.accuracy_before.hits else ""})
        return rows


def plan_outcome(original: nn.Module, planned: nn.Module, images: torch.Tensor,
                 labels: torch.Tensor | None = None) -> PlanOutcome:
    """``planned`` (e.g. ``slimconv.convert(original, plan.mapping())``) against ``original`` on ``images``
    (``B x C x H x W``, ``B >= 4`` for the CKA) with optional ``labels`` (``B`` long)."""
    nn_module("original", original)
    nn_module("planned", planned)
    size = tuple(images.shape[1:])
    before, after = predicted_classes(original, images), predicted_classes(planned, images)
    return PlanOutcome(
        params_before=slimconv.count_params(original), params_after=slimconv.count_params(planned),
        macs_before=deploy_macs(original, size), macs_after=deploy_macs(planned, size),
        agreement=top1_agreement(before, after),
        accuracy_before=None if labels is None else accuracy(before, labels),
        accuracy_after=None if labels is None else accuracy(after, labels),
        layer_cka=layer_cka_to_original(original, planned, images, conv_layer_names(original)))


def latency_comparison(original: nn.Module, planned: nn.Module, input_size: Sequence[int], *,
                       batch_size: int = 8) -> Comparison:
    """The deploy forms of ``original`` (the baseline) and ``planned`` for :func:`slimconv.bench.run_comparison`,
    on ``batch_size`` inputs of ``input_size`` (``C x H x W``). Each is built as a copy: timing moves a module to
    the bench's device and dtype, and the models given stay as they are."""
    shape = (int(batch_size), *map(int, input_size))

    def deployed(model: nn.Module):
        return lambda: slimconv.deploy_form(copy.deepcopy(model)).eval()

    return Comparison(f"plan b{batch_size}", shape, (Candidate("original", deployed(original), "dense"),
                                                     Candidate("planned", deployed(planned), "deploy")))
