"""Which layer a view opens on: the one where the effect it teaches is clearest for this model and images.

Each chooser scores every candidate layer with one number and picks the highest:

- :func:`most_alike_layer`: share of channel pairs whose maps are alike (``|similarity| >=
  threshold``, mean over images of the per-image matrices, as :func:`analysis.channel_similarity`),
  of each layer's output (Feature maps, Overview) or input (SPConv's what-if, which splits a layer's
  input channels). One forward pass; each layer is reduced to its share inside the hook.
- :func:`most_correlated_filters_layer`: mean ``|r|`` between the layer's flattened filters
  (:func:`analysis.filter_correlation`); only layers with one plain ``N x C x k x k`` weight qualify.
- :func:`most_uneven_flgc_layer`: spread of a FLGC layer's group sizes (coefficient of variation of
  the channels and filters per group) plus its share of dead filters.
- :func:`most_groupable_layer`: of dense layers, the weight energy the best balanced grouping keeps above
  what the same search finds in shuffled weights (:func:`analysis.dense_grouping`).

A :class:`LayerChoice` keeps every candidate's score, so a page can say why it opened where it did
(:attr:`LayerChoice.reason`) and a test can compare the choice with the other layers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from slimconv._validate import choice, fraction, instance_of, nn_module, positive_int

from ._running import eval_mode, images_for, run_model
from .capture import bound_map_size
from .dense_grouping import dense_grouping
from .filters import filter_correlation
from .flgc_inspection import inspect_flgc
from .hooks import conv_layer_names, layer_hooks
from .numeric_warnings import AnalysisWarning
from .report import RedundancyReport
from .scores import similar_pair_share
from .similarity import METRICS, channel_similarity

#: Values per image a layer's maps are pooled to before scoring: enough to rank layers, and fast.
CHOICE_VALUES_PER_IMAGE = 2**15


@dataclass(frozen=True)
class LayerChoice:
    """``layer`` had the highest ``scores[layer]`` (``scores``: every candidate, in forward order);
    ``measure`` says in words what the score is, e.g. ``"share of alike channel pairs"``."""

    layer: str
    scores: dict[str, float]
    measure: str

    @property
    def score(self) -> float:
        return self.scores[self.layer]

    @property
    def median_score(self) -> float:
        return float(torch.tensor(list(self.scores.values()), dtype=torch.float64).median())

    @property
    def reason(self) -> str:
        """One line: which layer, by what measure, against the median layer."""
        return (f"Opened on **{self.layer}**: it has the highest {self.measure} ({self.score:.3f}; the median of "
                f"the {len(self.scores)} layers: {self.median_score:.3f}). Pick any other layer above.")


def _best(scores: dict[str, float], measure: str) -> LayerChoice:
    if not scores:
        raise ValueError(f"no layer qualifies for the {measure}")
    best = max(scores, key=lambda name: scores[name])  # the first of equal scores: forward order
    return LayerChoice(layer=best, scores=dict(scores), measure=measure)


def most_alike_layer(
    model: nn.Module,
    images: torch.Tensor,
    *,
    metric: str = "pearson",
    threshold: float = 0.8,
    layer_names: Sequence[str] | None = None,
    of: str = "output",
    max_values_per_image: int = CHOICE_VALUES_PER_IMAGE,
) -> LayerChoice:
    """The layer (of ``layer_names``, default every convolution) whose output (``of="output"``) or
    input (``"input"``) for ``images`` (``B x C x H x W``) has the largest share of channel pairs at
    ``|similarity| >= threshold``. One forward pass in eval mode, hooks removed even on error."""
    nn_module("model", model)
    choice("metric", metric, METRICS)
    choice("of", of, ("output", "input"))
    fraction("threshold", threshold)
    positive_int("max_values_per_image", max_values_per_image)
    names = conv_layer_names(model) if layer_names is None else list(layer_names)
    if not names:
        raise ValueError("the model has no convolution to choose from")
    shares: dict[str, float] = {}

    def score(name: str, maps: torch.Tensor) -> None:
        if maps.dim() == 4 and name not in shares:
            bounded = bound_map_size(maps.detach(), max_values_per_image).cpu()
            with warnings.catch_warnings():  # a dead channel scores as alike to nothing, which is what ranking needs
                warnings.simplefilter("ignore", AnalysisWarning)
                shares[name] = similar_pair_share(channel_similarity(bounded, metric).matrix, threshold)

    with eval_mode(model), layer_hooks(model, names, score, of=of), torch.no_grad():
        run_model(model, images_for(model, images))
    where = "output" if of == "output" else "input"
    ordered = {name: shares[name] for name in names if name in shares}  # layers the forward pass skipped drop out
    return _best(ordered, f"share of alike channel pairs in its {where} (|{metric}| >= {threshold:g})")


def most_correlated_filters_layer(model: nn.Module, layer_names: Sequence[str] | None = None) -> LayerChoice:
    """The layer whose flattened filters are most correlated (mean ``|r|`` over pairs); layers without
    one plain 4-D ``weight`` (operators that build their filters otherwise) are left out."""
    nn_module("model", model)
    modules = dict(model.named_modules())
    names = conv_layer_names(model) if layer_names is None else list(layer_names)
    scores = {}
    for name in names:
        weight = getattr(modules[name], "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() == 4 and weight.shape[0] > 1:
            scores[name] = filter_correlation(weight.detach()).mean_abs_off_diagonal
    return _best(scores, "mean |correlation| between its filters")


def most_uneven_flgc_layer(model: nn.Module, layer_names: Sequence[str]) -> LayerChoice:
    """Of the FLGC layers ``layer_names``, the one whose groups are most uneven: coefficient of
    variation of channels and of filters per group, plus the share of dead filters."""
    nn_module("model", model)
    modules = dict(model.named_modules())
    scores = {}
    for name in layer_names:
        groups = inspect_flgc(modules[name]).groups
        spread = 0.0
        for sizes in (groups.channels_per_group.double(), groups.filters_per_group.double()):
            spread += float(sizes.std(unbiased=False) / sizes.mean()) if sizes.mean() > 0 else 0.0
        scores[name] = spread + len(groups.dead_filters) / max(int(groups.filters_per_group.sum()), 1)
    return _best(scores, "unevenness of its groups (spread of the group sizes plus the share of dead filters)")


def most_groupable_layer(model: nn.Module, layer_names: Sequence[str], groups: int) -> LayerChoice:
    """Of the dense convolutions ``layer_names``, the one whose weights hold the most group structure: the
    share of weight energy the best balanced grouping into ``groups`` keeps, above chance. A layer with nothing
    to group (all-zero weights, fewer than ``groups`` channels or filters) is not a candidate."""
    nn_module("model", model)
    modules = dict(model.named_modules())
    scores = {}
    for name in layer_names:
        try:
            scores[name] = dense_grouping(modules[name].weight, groups).structure_beyond_chance
        except ValueError:
            continue
    return _best(scores, f"weight energy kept by a grouping into {groups}, minus what the same search keeps in "
                         "shuffled weights")


def most_alike_in_report(report: RedundancyReport) -> LayerChoice:
    """The layer of a :class:`analysis.RedundancyReport` with the largest share of alike channel pairs
    (the same measure as :func:`most_alike_layer`, read from scores already computed)."""
    instance_of("report", report, RedundancyReport)
    shares = dict(zip(report.layer_names, report.column("similar_pair_share").tolist(), strict=True))
    return _best(shares, f"share of alike channel pairs in its output (|{report.metric}| >= {report.threshold:g})")
