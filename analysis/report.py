"""Redundancy scores of every convolution of a network in one call and one forward pass.

Each layer's output is reduced to its channel similarity and scores inside the forward hook and then
dropped, so memory stays at one layer's maps plus ``C x C`` matrices, whatever the depth. The maps
are first bounded like :func:`analysis.capture_activations` does (area pooling above
``max_values_per_image`` values per image). The scores are those of :mod:`analysis.scores`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import nn

from slimconv._validate import choice, fraction, nn_module, optional_callable, positive_int

from ._running import eval_mode, images_for, run_model
from .capture import DEFAULT_MAX_VALUES_PER_IMAGE, bound_map_size
from .hooks import conv_layer_names, layer_hooks, resolve_layers
from .scores import LayerRedundancyScores, SimilarityWorkspace, maps_redundancy_scores
from .similarity import METRICS, SimilarityMetric


@dataclass(frozen=True)
class RedundancyReport:
    """Per-layer redundancy of a network, one entry per layer in forward order.

    ``layer_names``: ``L``; ``map_sizes``: ``L`` (height, width) of the maps as the model made them;
    ``scores``: ``L`` :class:`LayerRedundancyScores`; ``num_images``, ``metric``, ``threshold``.
    """

    layer_names: list[str]
    map_sizes: list[tuple[int, int]]
    scores: list[LayerRedundancyScores]
    metric: str
    threshold: float
    num_images: int

    def column(self, score_name: str) -> torch.Tensor:
        """One score for every layer as an ``L`` float64 tensor (e.g. ``"similar_pair_share"``)."""
        allowed = [f.name for f in fields(LayerRedundancyScores)]
        if score_name not in allowed:
            raise ValueError(f"score_name must be one of {', '.join(allowed)}, got {score_name!r}")
        return torch.tensor([float(getattr(s, score_name)) for s in self.scores], dtype=torch.float64)

    def to_rows(self) -> list[dict[str, object]]:
        """One dictionary per layer (layer name, map size and every score), e.g. for a table."""
        rows = []
        for name, size, scores in zip(self.layer_names, self.map_sizes, self.scores, strict=True):
            row: dict[str, object] = {"layer": name, "map_size": f"{size[0]}x{size[1]}"}
            row.update({f.name: getattr(scores, f.name) for f in fields(scores)})
            rows.append(row)
        return rows


def redundancy_report(
    model: nn.Module,
    images: torch.Tensor,
    *,
    layer_names: Sequence[str] | None = None,
    metric: SimilarityMetric = "pearson",
    threshold: float = 0.9,
    max_values_per_image: int = DEFAULT_MAX_VALUES_PER_IMAGE,
    progress: Callable[[float, str], None] | None = None,
) -> RedundancyReport:
    """Scores of every convolution (or of ``layer_names``) of ``model`` for ``images`` (``B x 3 x H x W``).

    One forward pass in eval mode (modes restored after), hooks removed even on error.
    ``progress(fraction_done, layer_name)`` is called after each layer.
    """
    nn_module("model", model)
    choice("metric", metric, METRICS)
    fraction("threshold", threshold, low_open=False)
    positive_int("max_values_per_image", max_values_per_image)
    optional_callable("progress", progress)
    names = conv_layer_names(model) if layer_names is None else list(resolve_layers(model, layer_names))
    if not names:
        raise ValueError("the model has no convolution: pass layer_names explicitly")
    images = images_for(model, images)
    results: dict[str, tuple[tuple[int, int], LayerRedundancyScores]] = {}
    workspace = SimilarityWorkspace()

    def score_layer(name: str, output: torch.Tensor) -> None:
        if name in results:
            raise ValueError(f"layer {name!r} ran twice in one forward pass: report layers that run once")
        if output.dim() != 4:
            raise ValueError(f"layer {name!r} makes a {output.dim()}-D tensor, not B x C x H x W maps")
        maps = bound_map_size(output.detach(), max_values_per_image).cpu()
        scores = maps_redundancy_scores(maps, metric, threshold, workspace=workspace)
        results[name] = ((int(output.shape[2]), int(output.shape[3])), scores)
        if progress is not None:
            progress(len(results) / len(names), name)

    with eval_mode(model), layer_hooks(model, names, score_layer), torch.no_grad():
        run_model(model, images)
    missing = [name for name in names if name not in results]
    if missing:
        raise ValueError(f"layers {missing} did not run in the forward pass")
    ordered = list(results)  # forward order
    return RedundancyReport(
        layer_names=ordered,
        map_sizes=[results[name][0] for name in ordered],
        scores=[results[name][1] for name in ordered],
        metric=metric,
        threshold=threshold,
        num_images=int(images.shape[0]),
    )
