"""Figures of a whole network: the per-layer redundancy profile and a layer-by-layer CKA map."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from slimconv._validate import instance_of, text

from ..cka import CKAMap
from ..report import RedundancyReport
from ._style import as_numpy, colorbar, layer_tick_labels, new_figure


def redundancy_profile_figure(report: RedundancyReport, *, model_name: str = "",
                              highlight: str | None = None) -> Figure:
    """Scores of every layer, in forward order: shares of alike pairs and of rebuildable channels
    (top), and the effective rank, participation ratio and cluster count as shares of the channel
    count (bottom; the dotted line is the rank the data allow). ``highlight``: a layer marked on both
    panels (e.g. the most redundant one)."""
    count = len(instance_of("report", report, RedundancyReport).layer_names)
    text("model_name", model_name)
    if count == 0:
        raise ValueError("the report has no layer")
    positions = np.arange(count)
    channels = as_numpy(report.column("channels"))
    figure = new_figure(max(10.0, 0.18 * count + 5.5), 7.0)
    top, bottom = figure.subplots(2, 1, sharex=True)
    threshold = report.threshold
    top.bar(
        positions,
        as_numpy(report.column("rebuildable_channel_share")),
        color="#c6dbef",
        label=f"channels with a partner at |sim| >= {threshold:g}",
    )
    top.plot(
        positions,
        as_numpy(report.column("similar_pair_share")),
        "o-",
        color="#08519c",
        markersize=3,
        label=f"channel pairs with |sim| >= {threshold:g}",
    )
    top.set_ylabel("share")
    top.set_ylim(0, 1.02)
    top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    top.set_title("Alike channels per layer", fontsize=10)
    bottom.plot(
        positions,
        as_numpy(report.column("effective_rank")) / channels,
        "o-",
        markersize=3,
        label="effective rank / channels",
    )
    bottom.plot(
        positions,
        as_numpy(report.column("participation_ratio")) / channels,
        "s-",
        markersize=3,
        label="participation ratio / channels",
    )
    bottom.plot(
        positions,
        as_numpy(report.column("clusters")) / channels,
        "^-",
        markersize=3,
        label=f"clusters at {threshold:g} / channels",
    )
    bottom.plot(
        positions,
        as_numpy(report.column("max_rank")) / channels,
        ":",
        color="grey",
        label="rank the positions allow / channels",
    )
    bottom.set_ylabel("share of the channel count")
    bottom.set_ylim(0, 1.05)
    bottom.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom.set_title("Distinct directions among the channel maps (1 = no redundancy)", fontsize=10)
    bottom.set_xlabel("layer (forward order)")
    layer_tick_labels(bottom, report.layer_names)
    if highlight is not None:
        if highlight not in report.layer_names:
            raise ValueError(f"highlight must be one of the report's layers, got {highlight!r}")
        marked = report.layer_names.index(highlight)
        for axes in (top, bottom):
            axes.axvline(marked, color="#e6550d", linewidth=1.5, alpha=0.6)
        top.annotate(f"most alike: {highlight}", (marked, 1.0), xytext=(4, -12), textcoords="offset points",
                     color="#e6550d", fontsize=9)
    name = f"{model_name}: " if model_name else ""
    figure.suptitle(
        f"{name}redundancy profile of {count} layers ({report.metric}, {report.num_images} image"
        f"{'s' if report.num_images != 1 else ''})",
        fontsize=11,
    )
    return figure


def cka_figure(cka: CKAMap, *, model_a_name: str = "model A", model_b_name: str = "model B") -> Figure:
    """Linear CKA between every layer of model A (rows) and of model B (columns)."""
    rows, columns = instance_of("cka", cka, CKAMap).matrix.shape
    text("model_a_name", model_a_name)
    text("model_b_name", model_b_name)
    figure = new_figure(min(14.0, max(5.0, 0.22 * columns + 3.5)), min(14.0, max(4.5, 0.22 * rows + 2.5)))
    axes = figure.subplots()
    shown = axes.imshow(
        np.ma.masked_invalid(as_numpy(cka.matrix)),
        cmap="viridis",
        vmin=0,
        vmax=1,
        interpolation="nearest",
        aspect="auto",
    )
    layer_tick_labels(axes, cka.layer_names_b, "x")
    layer_tick_labels(axes, cka.layer_names_a, "y")
    axes.set_xlabel(f"{model_b_name} layer")
    axes.set_ylabel(f"{model_a_name} layer")
    colorbar(figure, shown, axes, f"{'debiased ' if cka.debiased else ''}linear CKA")
    figure.suptitle(
        f"Layer-by-layer similarity of {model_a_name} and {model_b_name} "
        f"({'debiased ' if cka.debiased else ''}linear CKA, {cka.num_images} images)",
        fontsize=11,
    )
    return figure
