"""Figures of one layer's activations: similarity heatmap with cluster blocks, feature-map grid,
ghost pairs."""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from slimconv._validate import channel_rows, indices, instance_of, positive_int, text

from ..clustering import ChannelClusters
from ..ghost_pairs import GhostPairs
from ..similarity import ChannelSimilarity
from ._style import MAP_CMAP, SIMILARITY_CMAP, as_numpy, colorbar, new_figure, normalise_per_map, tile

_METRIC_LABEL = {"pearson": "Pearson correlation", "cosine": "cosine similarity"}


def _outline_blocks(axes, block_sizes: torch.Tensor) -> None:
    start = 0
    for size in block_sizes.tolist():
        if size > 1:
            axes.add_patch(
                Rectangle((start - 0.5, start - 0.5), size, size, fill=False, edgecolor="black", linewidth=1.2)
            )
        start += size


def similarity_heatmap_figure(
    similarity: ChannelSimilarity, clusters: ChannelClusters | None = None, *, layer_name: str = ""
) -> Figure:
    """``C x C`` channel similarity as a heatmap; with ``clusters``, channels in cluster order and each
    cluster of 2 or more outlined. Over several images, a second panel shows the spread (std)."""
    channels = instance_of("similarity", similarity, ChannelSimilarity).channels
    text("layer_name", layer_name)
    if clusters is not None:
        instance_of("clusters", clusters, ChannelClusters)
    order = clusters.order if clusters is not None else torch.arange(channels)
    if clusters is not None and clusters.order.numel() != channels:
        raise ValueError(f"clusters cover {clusters.order.numel()} channels, the similarity {channels}")
    panels = 2 if similarity.num_images > 1 else 1
    figure = new_figure(5.2 * panels + 0.8, 5.0)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    metric = _METRIC_LABEL.get(similarity.metric, similarity.metric)
    images = f"mean of {similarity.num_images} images" if similarity.num_images > 1 else "one image"
    mean = as_numpy(similarity.matrix[order][:, order])
    shown = axes[0].imshow(mean, cmap=SIMILARITY_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    axes[0].set_title(f"{metric} of channel maps\n({images})", fontsize=10)  # two lines: panels sit side by side
    colorbar(figure, shown, axes[0], metric)
    if panels == 2:
        spread = as_numpy(similarity.std_over_images[order][:, order])
        shown_spread = axes[1].imshow(
            spread, cmap="Greys", vmin=0, vmax=max(1e-6, float(spread.max())), interpolation="nearest"
        )
        axes[1].set_title("spread over images (std)\nhigh = image-specific", fontsize=10)
        colorbar(figure, shown_spread, axes[1], f"std of {metric}")
    ordering = f"cluster order, {clusters.num_clusters} clusters" if clusters is not None else "channel order"
    for ax in axes:
        ax.set_xlabel(f"channel ({ordering})")
        ax.set_ylabel("channel")
        if clusters is not None:
            _outline_blocks(ax, clusters.block_sizes)
        if channels <= 16:  # every channel named; more names would run into each other once legible
            ax.set_xticks(range(channels), [str(c) for c in order.tolist()], fontsize=6, rotation=90)
            ax.set_yticks(range(channels), [str(c) for c in order.tolist()], fontsize=6)
    title = f"Channel similarity{' of ' + layer_name if layer_name else ''} ({channels} channels)"
    if clusters is not None and clusters.threshold is not None:
        title += f"; blocks: clusters at |similarity| >= {clusters.threshold:g}"
    figure.suptitle(title, fontsize=11)
    return figure


def feature_map_grid_figure(
    maps: torch.Tensor,
    *,
    channels: torch.Tensor | list[int] | None = None,
    max_maps: int = 64,
    layer_name: str = "",
) -> Figure:
    """Up to ``max_maps`` feature maps of one image (``C x H x W``) drawn as ONE tiled image, each map
    scaled to its own range; ``channels`` picks and orders them (e.g. ``clusters.order``)."""
    positive_int("max_maps", max_maps)
    text("layer_name", layer_name)
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3:
        raise ValueError("maps must be one image's C x H x W feature maps (index the batch first)")
    channel_rows("maps", maps)
    selected = torch.arange(maps.shape[0]) if channels is None else indices("channels", channels, maps.shape[0])
    selected = selected[:max_maps]
    count = selected.numel()
    columns = max(1, math.ceil(math.sqrt(count * maps.shape[1] / maps.shape[2])))
    columns = min(count, max(columns, 1))
    rows = math.ceil(count / columns)
    canvas = tile(normalise_per_map(as_numpy(maps[selected])), columns)
    aspect = canvas.shape[0] / canvas.shape[1]
    figure = new_figure(8.0, min(12.0, max(2.5, 6.6 * aspect + 0.7)))
    axes = figure.subplots()
    shown = axes.imshow(np.ma.masked_invalid(canvas), cmap=MAP_CMAP, vmin=0, vmax=1, interpolation="nearest")
    height, width = maps.shape[1:]
    if count <= 64:
        for index, channel in enumerate(selected.tolist()):
            row, column = divmod(index, columns)
            axes.text(
                column * (width + 1) + 0.5,
                row * (height + 1) + 0.5,
                str(channel),
                color="white",
                fontsize=6,
                va="top",
                ha="left",
                bbox=dict(facecolor="black", alpha=0.5, pad=0.5, linewidth=0),
            )
    axes.set_axis_off()
    colorbar(figure, shown, axes, "activation, each map\nscaled to its min..max")  # two lines: fits a short bar
    name = f" of {layer_name}" if layer_name else ""
    figure.suptitle(  # two lines: in a 2/5 column, raised to 10 px, one line ran into the colour bar's label
        f"Feature maps{name}:\n{count} of {maps.shape[0]} channels, {height}x{width} ({rows} x {columns} grid)",
        fontsize=11,
    )
    return figure


def ghost_pairs_figure(pairs: GhostPairs, *, max_pairs: int = 6) -> Figure:
    """For each of the most alike pairs: the source map, the target map and its affine and depthwise
    rebuilds from the source (one image), each row on one colour scale, R^2 in the titles."""
    instance_of("pairs", pairs, GhostPairs)
    positive_int("max_pairs", max_pairs)
    count = min(max_pairs, pairs.source_channels.numel())
    figure = new_figure(6.4, 1.75 * count + 0.8)  # about its size on the page (a 3/5 column): texts stay legible
    axes = figure.subplots(count, 4, squeeze=False)
    for row in range(count):
        maps = as_numpy(pairs.example_maps[row])
        low, high = float(maps[:2].min()), float(maps[:2].max())
        source, target = int(pairs.source_channels[row]), int(pairs.target_channels[row])
        titles = [
            f"source: channel {source}",
            f"target: channel {target}\n{pairs.metric} {float(pairs.similarity[row]):+.3f}",
            f"affine rebuild\nR² = {float(pairs.affine_r2[row]):.3f}",
            f"{pairs.kernel_size}x{pairs.kernel_size} depthwise rebuild\nR² = {float(pairs.depthwise_r2[row]):.3f}",
        ]
        for column in range(4):
            ax = axes[row, column]
            shown = ax.imshow(maps[column], cmap=MAP_CMAP, vmin=low, vmax=high, interpolation="nearest")
            ax.set_title(titles[column], fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        colorbar(figure, shown, list(axes[row]), "activation")
    figure.suptitle(
        f"Ghost pairs: the {count} most alike channel pairs\nand cheap rebuilds of one from the other "
        f"(image {pairs.example_image}; R² over all images)",
        fontsize=11,
    )
    return figure
