"""Figures of what each operator does: SPConv's split and fusion, the split what-if, FLGC's groups
and their switches, the grouping a dense layer's weights come closest to, PEDConv's factors."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from slimconv._validate import index, instance_of, positive_int, text

from ..dense_grouping import DenseGrouping
from ..flgc_inspection import FLGCInspection, FLGCSwitches, GroupStructure
from ..pedconv_inspection import PEDConvInspection
from ..spconv_inspection import SPConvInspection, SplitScore, SplitWhatIf
from ._style import (
    HEAT_CMAP,
    MAP_CMAP,
    REDUNDANT_COLOUR,
    REPRESENTATIVE_COLOUR,
    as_numpy,
    colorbar,
    new_figure,
    normalise_per_map,
    tile,
)

_SPLIT_CMAP = ListedColormap([REDUNDANT_COLOUR, REPRESENTATIVE_COLOUR])
_SPLIT_LEGEND = [
    Patch(color=REPRESENTATIVE_COLOUR, label="representative"),
    Patch(color=REDUNDANT_COLOUR, label="redundant"),
]


def _channel_strip(axes, representative: torch.Tensor, channels: int, label: str) -> None:
    strip = np.zeros((1, channels))
    strip[0, representative.numpy()] = 1
    axes.imshow(strip, cmap=_SPLIT_CMAP, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    axes.set_yticks([0], [label], fontsize=8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # channels are whole: no tick at 0.5
    axes.set_xlabel("input channel")


def spconv_figure(
    inspection: SPConvInspection, *, image_index: int = 0, max_channels: int = 8, layer_name: str = "",
    image_name: str = "",
) -> Figure:
    """SPConv on one image: which input channels are representative and which redundant, the fusion
    weights ``beta`` / ``gamma`` of every output channel, and both branch outputs with the fused
    output for the first ``max_channels`` output channels. ``image_name`` names the image in the titles
    (else its index)."""
    instance_of("inspection", inspection, SPConvInspection)
    positive_int("max_channels", max_channels)
    index("image_index", image_index, inspection.beta.shape[0])
    text("layer_name", layer_name)
    text("image_name", image_name)
    channels = len(inspection.representative_channels) + len(inspection.redundant_channels)
    outputs = inspection.beta.shape[1]
    shown_channels = min(max_channels, outputs)
    figure = new_figure(11.0, 8.0)
    strip_ax, fusion_ax, maps_ax = figure.subplots(3, 1, height_ratios=[0.5, 1.4, 2.2])
    _channel_strip(strip_ax, inspection.representative_channels, channels, "input")
    strip_ax.legend(handles=_SPLIT_LEGEND, fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 2.2), ncols=2)
    strip_ax.set_title(
        f"Split (alpha = {inspection.alpha:g}): {len(inspection.representative_channels)} representative channels -> "
        f"k x k group conv + 1x1 conv (U3); {len(inspection.redundant_channels)} redundant -> 1x1 conv (U1)",
        fontsize=9,
    )
    positions = np.arange(outputs)
    beta = as_numpy(inspection.beta[image_index])
    fusion_ax.bar(positions, beta, color=REPRESENTATIVE_COLOUR, label="beta (weight of U3)")
    fusion_ax.bar(positions, 1 - beta, bottom=beta, color=REDUNDANT_COLOUR, label="gamma (weight of U1)")
    fusion_ax.axhline(0.5, color="black", linewidth=0.6, linestyle=":")
    fusion_ax.set_xlim(-0.5, outputs - 0.5)
    fusion_ax.set_ylim(0, 1)
    fusion_ax.set_xlabel("output channel")
    fusion_ax.set_ylabel("fusion weight")
    fusion_ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fusion_ax.set_title(
        f"Fusion weights for {image_name or f'image {image_index}'}: softmax of the branches' mean responses "
        f"(mean beta = {beta.mean():.2f})",
        fontsize=9,
    )
    rows = [inspection.representative_output, inspection.redundant_output, inspection.output]
    maps = np.concatenate([as_numpy(r[image_index, :shown_channels]) for r in rows])
    canvas = tile(normalise_per_map(maps), shown_channels)
    shown = maps_ax.imshow(np.ma.masked_invalid(canvas), cmap=MAP_CMAP, vmin=0, vmax=1, interpolation="nearest")
    height, width = maps.shape[1:]
    maps_ax.set_yticks(
        [(height + 1) * i + height / 2 for i in range(3)],
        ["representative\nbranch U3", "redundant\nbranch U1", "fused output"],
        fontsize=8,
    )
    maps_ax.set_xticks(
        [(width + 1) * i + width / 2 for i in range(shown_channels)],
        [str(i) for i in range(shown_channels)],
        fontsize=7,
    )
    maps_ax.set_xlabel("output channel")
    maps_ax.set_title("Branch outputs and fused output (each map scaled to its own range)", fontsize=9)
    # below the maps, not beside them: the square maps leave the wide axes' right part empty, so a bar at its
    # edge would stand far from them
    figure.colorbar(shown, ax=maps_ax, location="bottom", shrink=0.5, aspect=40).set_label("scaled activation")
    name = f" {layer_name}" if layer_name else ""
    figure.suptitle(f"SPConv layer{name}: split, fusion and branches", fontsize=11)
    return figure


def split_what_if_figure(what_if: SplitWhatIf, *, layer_name: str = "") -> Figure:
    """A dense layer's input split the paper's way (first channels) and by similarity (cluster
    medoids): which channels each keeps, and how well each split's representatives rebuild the
    redundant channels (R^2, sorted), with the share of input variance each keeps."""
    instance_of("what_if", what_if, SplitWhatIf)
    text("layer_name", layer_name)
    splits: list[SplitScore] = [what_if.positional, what_if.by_similarity]
    channels = len(splits[0].representative_channels) + len(splits[0].redundant_channels)
    figure = new_figure(10.0, 6.0)
    strip_axes = figure.subplots(3, 1, height_ratios=[0.45, 0.45, 2.0])
    for ax, split in zip(strip_axes[:2], splits, strict=True):
        _channel_strip(ax, split.representative_channels, channels, split.name)
    strip_axes[0].set_title(
        f"Representative ({len(splits[0].representative_channels)}) and redundant "
        f"({len(splits[0].redundant_channels)}) input channels, alpha = {what_if.alpha:g}",
        fontsize=9,
    )
    strip_axes[0].legend(handles=_SPLIT_LEGEND, fontsize=8, loc="upper right", bbox_to_anchor=(1.0, 2.0), ncols=2)
    bars = strip_axes[2]
    for split, colour in zip(splits, ("#6baed6", "#31a354"), strict=True):
        r2 = np.sort(as_numpy(split.redundant_r2))[::-1]
        bars.plot(
            np.arange(len(r2)),
            r2,
            "-o" if len(r2) <= 16 else "-",  # markers where few channels: one redundant channel is one point
            color=colour,
            linewidth=2,
            markersize=4,
            label=f"{split.name} split: keeps {split.variance_kept_share:.1%} of the input variance",
        )
    bars.axhline(what_if.chance_r2, color="grey", linestyle=":", label=f"chance level R² = {what_if.chance_r2:.3f}")
    bars.set_ylim(0, 1.02)
    bars.xaxis.set_major_locator(MaxNLocator(integer=True))
    bars.set_xlabel("redundant channel (sorted by R²)")
    bars.set_ylabel("R² from all representatives")
    bars.legend(fontsize=8, loc="lower left")
    bars.set_title(
        f"How well the representatives rebuild each redundant channel ({what_if.positions} positions)", fontsize=9
    )
    name = f" of {layer_name}" if layer_name else ""
    figure.suptitle(f"What if SPConv split the input{name} by similarity instead of by position?", fontsize=11)
    return figure


def _outline_groups(axes, groups: GroupStructure, *, linewidth: float) -> None:
    """Outline each group's block (its filters x its channels) of a matrix drawn with filters and channels
    sorted by group; a group without channels or filters has no block."""
    channel_start = filter_start = 0
    for n_g, m_g in zip(groups.channels_per_group.tolist(), groups.filters_per_group.tolist(), strict=True):
        if n_g and m_g:
            axes.add_patch(Rectangle((channel_start - 0.5, filter_start - 0.5), n_g, m_g, fill=False,
                                     edgecolor="#d94801", linewidth=linewidth))
        channel_start += n_g
        filter_start += m_g


def flgc_groups_figure(inspection: FLGCInspection, *, layer_name: str = "") -> Figure:
    """A FLGC layer's assignment matrices, group sizes, and the mask with channels and filters sorted
    by group (blocks on the diagonal), with dead filters, unused channels and the costs."""
    groups = instance_of("inspection", inspection, FLGCInspection).groups
    text("layer_name", layer_name)
    figure = new_figure(13.0, 8.0)
    mosaic = figure.subplot_mosaic(
        [["channels", "filters", "sizes"], ["mask", "mask", "sizes"]], height_ratios=[1, 1.4]
    )
    for key, assignment, label in (
        ("channels", groups.channel_assignment, "input channel"),
        ("filters", groups.filter_assignment, "filter"),
    ):
        ax = mosaic[key]
        ax.imshow(as_numpy(assignment.T), cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_xlabel(label)
        ax.set_ylabel("group")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{label} assignment ({groups.num_groups} groups x {assignment.shape[0]})", fontsize=9)
    positions = np.arange(groups.num_groups)
    sizes = mosaic["sizes"]
    sizes.barh(positions - 0.2, as_numpy(groups.channels_per_group), height=0.4, label="input channels n_g")
    sizes.barh(positions + 0.2, as_numpy(groups.filters_per_group), height=0.4, label="filters m_g")
    sizes.set_yticks(positions, [str(g) for g in range(groups.num_groups)])
    sizes.invert_yaxis()
    sizes.set_ylabel("group")
    sizes.set_xlabel("count")
    sizes.legend(fontsize=8, loc="best")
    sizes.set_title("group sizes", fontsize=9)
    mask_ax = mosaic["mask"]
    mask_ax.imshow(as_numpy(groups.permuted_mask), cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    _outline_groups(mask_ax, groups, linewidth=1.0)
    mask_ax.set_xlabel("input channel (sorted by group)")
    mask_ax.set_ylabel("filter (sorted by group)")
    kept = inspection.grouped_macs_per_position / inspection.dense_macs_per_position
    mask_ax.set_title(
        f"kept weights (black), blocks = groups; dead filters: {len(groups.dead_filters)}, "
        f"unused channels: {len(groups.unused_channels)}",
        fontsize=9,
    )
    figure.suptitle(
        f"FLGC{' ' + layer_name if layer_name else ''}: {groups.num_groups} groups. MACs per output position: dense "
        f"{inspection.dense_macs_per_position:,}, grouped {inspection.grouped_macs_per_position:,} ({kept:.1%}), "
        f"deployed {inspection.deployed_macs_per_position:,}",
        fontsize=10,
    )
    return figure


def dense_grouping_figure(grouping: DenseGrouping, *, layer_name: str = "") -> Figure:
    """A dense layer's weight energy per filter and input channel, both sorted by the grouping found (its
    groups outlined: what a FLGC layer of these groups would keep), beside the shares kept by it, by the
    same search in shuffled weights and by a random grouping."""
    instance_of("grouping", grouping, DenseGrouping)
    text("layer_name", layer_name)
    groups = grouping.groups
    figure = new_figure(9.0, 5.0)
    matrix_ax, shares_ax = figure.subplots(1, 2, width_ratios=[1.6, 1])
    energy = grouping.energy[groups.filter_order][:, groups.channel_order]
    shown = matrix_ax.imshow(as_numpy(energy / energy.max()), cmap="Greys", vmin=0, vmax=1, aspect="auto",
                             interpolation="nearest")
    _outline_groups(matrix_ax, groups, linewidth=1.5)
    matrix_ax.set_xlabel("input channel (sorted by group)")
    matrix_ax.set_ylabel("filter (sorted by group)")
    matrix_ax.set_title("weight energy Σₖ W²\n(outlined: inside the groups)", fontsize=9)
    colorbar(figure, shown, matrix_ax, "energy / largest")
    labels = ["grouping found", "same search,\nshuffled weights", "random grouping"]
    values = [grouping.energy_kept, grouping.shuffled_energy_kept, grouping.random_energy_kept]
    bars = shares_ax.barh(range(3), values, color=["#d94801", "#9e9e9e", "#cfcfcf"])
    shares_ax.bar_label(bars, [f"{value:.0%}" for value in values], padding=3, fontsize=9)
    shares_ax.set_yticks(range(3), labels, fontsize=9)
    shares_ax.invert_yaxis()
    shares_ax.set_xlim(0, 1)
    shares_ax.set_xlabel("share of the weight energy kept")
    shares_ax.set_title("what a grouping keeps", fontsize=9)
    figure.suptitle(f"{groups.num_groups} balanced groups{' of ' + layer_name if layer_name else ''}: the dense "
                    f"weights keep {grouping.energy_kept:.0%} inside them", fontsize=10)
    return figure


def flgc_switches_figure(switches: FLGCSwitches, *, before_name: str = "before", after_name: str = "after") -> Figure:
    """Group transitions of channels and filters between two checkpoints (off-diagonal = switched)."""
    instance_of("switches", switches, FLGCSwitches)
    text("before_name", before_name)
    text("after_name", after_name)
    figure = new_figure(11.0, 5.0)
    axes = figure.subplots(1, 2)
    for ax, counts, switched, what in (
        (axes[0], switches.channel_transitions, switches.switched_channel_share, "input channels"),
        (axes[1], switches.filter_transitions, switches.switched_filter_share, "filters"),
    ):
        values = as_numpy(counts)
        shown = ax.imshow(values, cmap="Blues", interpolation="nearest")
        groups = values.shape[0]
        if groups <= 16:
            for row in range(groups):
                for column in range(groups):
                    if values[row, column]:
                        ax.text(
                            column,
                            row,
                            f"{int(values[row, column])}",
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if values[row, column] > values.max() / 2 else "black",
                        )
        ax.set_xlabel(f"group at {after_name}")
        ax.set_ylabel(f"group at {before_name}")
        ax.set_title(f"{what}: {switched:.1%} switched group", fontsize=10)
        colorbar(figure, shown, ax, f"number of {what}")
    figure.suptitle(f"FLGC group switches from {before_name} to {after_name}", fontsize=11)
    return figure


def pedconv_figure(inspection: PEDConvInspection, *, image_index: int = 0, layer_name: str = "",
                   image_name: str = "") -> Figure:
    """PEDConv factors for one image with their spread over the images (error bars: std):
    ``gamma`` per filter, ``phi`` per input channel, ``psi`` over the ``k x k`` window; one row per
    rank term (at most 4). ``image_name`` names the image in the title (else its index)."""
    instance_of("inspection", inspection, PEDConvInspection)
    index("image_index", image_index, inspection.gamma.shape[0])
    text("layer_name", layer_name)
    text("image_name", image_name)
    ranks = min(4, inspection.rank)
    figure = new_figure(13.0, 3.2 * ranks + 0.6)
    axes = figure.subplots(ranks, 3, squeeze=False, width_ratios=[2, 2, 1])
    k = inspection.kernel_size
    for r in range(ranks):
        for ax, values, spread, label in (
            (axes[r, 0], inspection.gamma, inspection.gamma_std_over_images, "filter"),
            (axes[r, 1], inspection.phi, inspection.phi_std_over_images, "input channel"),
        ):
            data = as_numpy(values[image_index, r])
            ax.bar(
                np.arange(len(data)),
                data,
                yerr=as_numpy(spread[r]),
                color="#6baed6",
                ecolor="#08306b",
                error_kw=dict(linewidth=0.6),
            )
            ax.set_ylim(0, 1)
            ax.set_xlabel(label)
            ax.set_ylabel("factor (sigmoid)")
            symbol = "gamma" if label == "filter" else "phi"
            ax.set_title(
                f"{symbol} (rank term {r}): per {label}\nbars = std over {inspection.gamma.shape[0]} images", fontsize=9
            )
        psi = as_numpy(inspection.psi[image_index, r]).reshape(k, k)
        shown = axes[r, 2].imshow(psi, cmap=HEAT_CMAP, vmin=0, vmax=1, interpolation="nearest")
        for (row, column), value in np.ndenumerate(psi):
            axes[r, 2].text(
                column,
                row,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if value < 0.5 else "black",
            )
        axes[r, 2].set_xticks(range(k))
        axes[r, 2].set_yticks(range(k))
        axes[r, 2].set_title(f"psi over the {k}x{k} window", fontsize=9)
        colorbar(figure, shown, axes[r, 2], "factor")
    shown_image = image_name or f"image {image_index}"
    figure.suptitle(
        f"PEDConv{' ' + layer_name if layer_name else ''}: how {shown_image} perturbs the shared "
        "weight (W_b = W * gamma x phi x psi)",
        fontsize=11,
    )
    return figure
