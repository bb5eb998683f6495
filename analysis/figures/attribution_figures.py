"""Figures of attributions: heatmaps over the images, two models side by side, and channel
importance against channel redundancy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from slimconv._validate import instance_of, positive_int, text

from ..attribution.agreement import AttributionAgreement
from ..attribution.base import AttributionMaps
from ..importance_redundancy import ImportanceRedundancy
from ._style import HEAT_CMAP, as_numpy, colorbar, display_image, new_figure


def _check_images(images: torch.Tensor, results: Sequence[AttributionMaps]) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.numel() == 0:
        raise ValueError("images must be the displayable B x C x H x W batch that was attributed")
    for result in results:
        if result.heatmaps.shape[0] != images.shape[0] or result.heatmaps.shape[1:] != images.shape[2:]:
            raise ValueError(
                f"{result.method} heatmaps {tuple(result.heatmaps.shape)} do not match images {tuple(images.shape)}"
            )


def _two_names(names: object) -> bool:
    return (
        isinstance(names, Sequence)
        and not isinstance(names, str)
        and len(names) == 2
        and all(isinstance(name, str) for name in names)
    )


def _check_class_names(class_names: Sequence[str], results: Sequence[AttributionMaps]) -> None:
    """Every target class shown needs a name."""
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise ValueError(f"class_names must be a sequence of class names, got {class_names!r}")
    needed = max(int(result.targets.max()) for result in results) + 1
    if len(class_names) < needed:
        raise ValueError(f"class_names has {len(class_names)} names, the targets need at least {needed}")


def _overlay(ax, image: torch.Tensor, heatmap: torch.Tensor, title: str):
    """The image in grey, the heatmap over it, opaque where the attribution is large."""
    ax.imshow(display_image(image).mean(axis=2), cmap="gray", vmin=0, vmax=1, interpolation="bilinear")
    values = as_numpy(heatmap)
    bound = float(np.abs(values).max()) or 1.0
    signed = bool(values.min() < 0)
    opacity = np.clip(np.abs(values) / bound, 0, 1) ** 0.5 * 0.85
    shown = ax.imshow(
        values,
        cmap="RdBu_r" if signed else HEAT_CMAP,
        vmin=-bound if signed else 0,
        vmax=bound,
        alpha=opacity,
        interpolation="bilinear",
    )
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def attribution_overlay_figure(
    images: torch.Tensor,
    results: Sequence[AttributionMaps],
    *,
    max_images: int = 4,
    class_names: Sequence[str] | None = None,
) -> Figure:
    """Rows: images (at most ``max_images``); columns: the image, then each method's heatmap over it.
    ``images``: the attributed batch in displayable form (``B x 3 x H x W``; min-max scaled if not in
    [0, 1]). Each heatmap is scaled to its own maximum (signed ones in red/blue)."""
    positive_int("max_images", max_images)
    if isinstance(results, AttributionMaps) or not isinstance(results, Sequence):
        raise ValueError(f"results must be a list of AttributionMaps, got {type(results).__name__}")
    if not results:
        raise ValueError("results is empty: pass at least one AttributionMaps")
    for position, result in enumerate(results):
        instance_of(f"results[{position}]", result, AttributionMaps)
    _check_images(images, results)
    if class_names is not None:
        _check_class_names(class_names, results)
    rows = min(max_images, images.shape[0])
    figure = new_figure(2.6 * (len(results) + 1) + 0.8, 2.7 * rows + 0.5)
    axes = figure.subplots(rows, len(results) + 1, squeeze=False)
    for row in range(rows):
        target = int(results[0].targets[row])
        label = class_names[target] if class_names is not None else f"class {target}"
        axes[row, 0].imshow(display_image(images[row]))
        axes[row, 0].set_title(f"image {row}: {label}", fontsize=8)
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
        for column, result in enumerate(results, start=1):
            shown = _overlay(axes[row, column], images[row], result.heatmaps[row], result.method)
            colorbar(figure, shown, axes[row, column], "attribution")
    figure.suptitle("Which pixels drive the class score (attribution heatmaps over the images)", fontsize=11)
    return figure


def attribution_comparison_figure(
    images: torch.Tensor,
    first: AttributionMaps,
    second: AttributionMaps,
    *,
    model_names: tuple[str, str] = ("model A", "model B"),
    agreement: AttributionAgreement | None = None,
    max_images: int = 4,
) -> Figure:
    """Two models' heatmaps of one method side by side, per image, with their agreement if given."""
    positive_int("max_images", max_images)
    instance_of("first", first, AttributionMaps)
    instance_of("second", second, AttributionMaps)
    _check_images(images, [first, second])
    if not _two_names(model_names):
        raise ValueError(f"model_names must be two strings (first, second), got {model_names!r}")
    if agreement is not None:
        instance_of("agreement", agreement, AttributionAgreement)
        if agreement.top_overlap.numel() != images.shape[0]:
            raise ValueError(f"agreement is for {agreement.top_overlap.numel()} images, images has {images.shape[0]}")
    rows = min(max_images, images.shape[0])
    figure = new_figure(9.0, 2.8 * rows + 0.5)
    axes = figure.subplots(rows, 3, squeeze=False)
    for row in range(rows):
        axes[row, 0].imshow(display_image(images[row]))
        axes[row, 0].set_title(f"image {row}", fontsize=8)
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
        for column, (result, name) in enumerate(zip((first, second), model_names, strict=True), start=1):
            title = f"{name}: {result.method}, class {int(result.targets[row])}"
            shown = _overlay(axes[row, column], images[row], result.heatmaps[row], title)
            colorbar(figure, shown, axes[row, column], "attribution")
        if agreement is not None:
            axes[row, 2].set_xlabel(
                f"rank corr. {float(agreement.rank_correlation[row]):.2f}, "
                f"top-{agreement.top_share:.0%} IoU {float(agreement.top_overlap[row]):.2f}",
                fontsize=8,
            )
    figure.suptitle(f"{model_names[0]} vs {model_names[1]}: where each model looks", fontsize=11)
    return figure


def _number(value: float, spec: str = ".3g") -> str:
    return "n/a (no channel)" if value != value else format(value, spec)


def importance_redundancy_figure(result: ImportanceRedundancy, *, layer_name: str = "") -> Figure:
    """One point per channel: its redundancy (best |similarity| to another channel) against its
    importance to the class score, with Spearman's rho."""
    instance_of("result", result, ImportanceRedundancy)
    text("layer_name", layer_name)
    figure = new_figure(6.5, 5.0)
    axes = figure.subplots()
    redundant = result.redundant.numpy()
    redundancy, importance = as_numpy(result.redundancy), as_numpy(result.importance)
    axes.scatter(redundancy[~redundant], importance[~redundant], s=14, color="#6baed6", label="other channels")
    axes.scatter(
        redundancy[redundant],
        importance[redundant],
        s=14,
        color="#d94801",
        label=f"redundant (|sim| >= {result.threshold:g})",
    )
    axes.axvline(result.threshold, color="grey", linestyle=":")
    axes.set_xlabel("redundancy: highest |similarity| to another channel")
    axes.set_ylabel("importance: mean |effect on the class score|")
    axes.set_xlim(0, 1.02)
    axes.legend(fontsize=8, loc="upper left")
    means = (
        f"mean importance: redundant {_number(result.mean_importance_redundant)}, "
        f"others {_number(result.mean_importance_other)}"
    )
    axes.set_title(
        f"Spearman rho = {_number(result.rank_correlation, '+.2f')} (negative: alike channels matter less)\n{means}",
        fontsize=8,
    )
    name = f" of {layer_name}" if layer_name else ""
    figure.suptitle(f"Are the alike channels{name} the unimportant ones?", fontsize=11)
    return figure
