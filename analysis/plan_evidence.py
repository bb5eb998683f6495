"""What a slimming plan rests on: the measured redundancy of every dense convolution of a model.

For each ``nn.Conv2d`` that no operator has replaced yet: how many of its *input* channels are distinct
(complete-linkage clusters at ``|similarity| >= threshold`` among the live channels, as
:func:`analysis.layer_redundancy_scores` counts them; SPConv splits and FLGC groups input channels), how many
are dead (constant on every image), and how many singular directions hold ``energy`` of its filters' energy
(:func:`analysis.filter_spectrum`; LinearConv rebuilds filters from a few primaries). One forward pass in eval
mode; each input is reduced to a ``C x C`` similarity inside its hook and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from slimconv._validate import choice, fraction, nn_module
from slimconv.policies import dense_convs

from ._running import eval_mode, images_for, run_model
from .capture import DEFAULT_MAX_VALUES_PER_IMAGE, bound_map_size
from .filters import filter_spectrum
from .hooks import layer_hooks
from .scores import layer_redundancy_scores
from .similarity import METRICS, SimilarityMetric, channel_similarity


@dataclass(frozen=True)
class LayerEvidence:
    """The measured redundancy of one dense convolution.

    ``input_size``: (height, width) of its input as the model made it; ``distinct_inputs``: clusters among its
    live input channels; ``dead_inputs``: input channels constant on every image; ``filter_rank``: singular
    directions of its ``N x C k^2`` filters holding ``energy`` of their energy (at most ``max_filter_rank``).
    """

    name: str
    conv: nn.Conv2d
    input_size: tuple[int, int]
    distinct_inputs: int
    dead_inputs: int
    filter_rank: int
    max_filter_rank: int

    @property
    def distinct_share(self) -> float:
        """Share of the input channels that carry something no other channel carries (dead ones do not)."""
        return self.distinct_inputs / self.conv.in_channels


def measure_evidence(
    model: nn.Module,
    images: torch.Tensor,
    *,
    metric: SimilarityMetric = "pearson",
    threshold: float = 0.9,
    energy: float = 0.95,
    max_values_per_image: int = DEFAULT_MAX_VALUES_PER_IMAGE,
) -> list[LayerEvidence]:
    """The evidence of every dense convolution of ``model`` for ``images`` (``B x C x H x W``), forward order."""
    nn_module("model", model)
    choice("metric", metric, METRICS)
    fraction("threshold", threshold)
    fraction("energy", energy, low_open=True)
    convs = dict(dense_convs(model))
    if not convs:
        raise ValueError(f"{type(model).__name__} has no dense convolution left to plan for")
    images = images_for(model, images)
    found: dict[str, tuple[tuple[int, int], int, int]] = {}

    def score_input(name: str, inputs: torch.Tensor) -> None:
        if name in found:
            raise ValueError(f"layer {name!r} ran twice in one forward pass: a plan needs layers that run once")
        maps = bound_map_size(inputs.detach(), max_values_per_image).cpu()
        scores = layer_redundancy_scores(channel_similarity(maps, metric), threshold, maps=maps)
        found[name] = ((int(inputs.shape[2]), int(inputs.shape[3])), scores.clusters, scores.dead_channels)

    with eval_mode(model), layer_hooks(model, list(convs), score_input, of="input"), torch.no_grad():
        run_model(model, images)
    evidence = []
    for name in found:  # forward order; layers the eval forward skips get no evidence and stay as they are
        conv = convs[name]
        spectrum = filter_spectrum(conv.weight.detach())
        size, distinct, dead = found[name]
        evidence.append(LayerEvidence(name, conv, size, distinct, dead, spectrum.rank_for_energy(energy),
                                      len(spectrum.singular_values)))
    return evidence
