"""Figures of one layer's weights: filter correlation, singular spectrum, LinearConv primaries."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from slimconv._validate import indices, instance_of, text

from ..filters import FilterCorrelation, FilterSpectrum, PrimaryRebuild
from ..linearconv_inspection import LinearConvInspection
from ._style import SIMILARITY_CMAP, as_numpy, colorbar, new_figure


def filter_correlation_figure(
    correlation: FilterCorrelation, *, order: torch.Tensor | None = None, layer_name: str = ""
) -> Figure:
    """``N x N`` Pearson correlation of a layer's flattened filters (optionally reordered)."""
    count = instance_of("correlation", correlation, FilterCorrelation).matrix.shape[0]
    order = torch.arange(count) if order is None else indices("order", order, count)
    text("layer_name", layer_name)
    figure = new_figure(6.0, 5.2)
    axes = figure.subplots()
    shown = axes.imshow(
        as_numpy(correlation.matrix[order][:, order]), cmap=SIMILARITY_CMAP, vmin=-1, vmax=1, interpolation="nearest"
    )
    axes.set_xlabel("filter")
    axes.set_ylabel("filter")
    colorbar(figure, shown, axes, "Pearson correlation of flattened filters")
    name = f" of {layer_name}" if layer_name else ""
    axes.set_title(
        f"LinearConv regulariser sum|R - I| = {correlation.regulariser:.1f}; "
        f"mean |r| off the diagonal = {correlation.mean_abs_off_diagonal:.3f}",
        fontsize=9,
    )
    figure.suptitle(f"Filter correlation{name} ({count} filters)", fontsize=11)
    return figure


def spectrum_figure(spectrum: FilterSpectrum, *, layer_name: str = "") -> Figure:
    """Singular values of the flattened filters (log scale) and the cumulative energy they hold."""
    instance_of("spectrum", spectrum, FilterSpectrum)
    text("layer_name", layer_name)
    values = as_numpy(spectrum.singular_values)
    positions = range(1, len(values) + 1)
    figure = new_figure(5.2, 6.4)  # panels stacked: shown in half of the page's column, texts stay legible
    left, right = figure.subplots(2, 1)
    left.semilogy(positions, values.clip(min=values.max() * 1e-12 if values.max() > 0 else 1e-300), "o-", markersize=3)
    left.set_xlabel("index")
    left.set_ylabel("singular value (log)")
    plain = FuncFormatter(lambda value, _: f"{value:.2g}")  # plain text, not mathtext
    left.yaxis.set_major_formatter(plain)
    low, high = (float(values.min()), float(values.max())) if values.min() > 0 else (0.0, 0.0)
    decades = int(np.floor(np.log10(high)) - np.ceil(np.log10(low)) + 1) if low > 0 else 0
    if decades >= 2:  # decade ticks enough to read the axis: minor labels would only overlap them
        left.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    else:  # at most one decade tick in range: label 2x and 5x ticks too, or the axis has one label
        left.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        left.yaxis.set_minor_formatter(plain)
    left.set_title(f"singular values; effective rank {spectrum.effective_rank:.1f} of {len(values)}", fontsize=10)
    right.plot(positions, as_numpy(spectrum.cumulative_energy), "-", color="#08519c")
    for share, colour in ((0.9, "#fd8d3c"), (0.99, "#d94801")):
        rank = spectrum.rank_for_energy(share)
        right.axvline(rank, color=colour, linestyle=":", label=f"{share:.0%} of energy: {rank} directions")
    right.set_xlabel("number of singular directions")
    right.set_ylabel("share of the weight's energy")
    right.set_ylim(0, 1.02)
    right.legend(fontsize=8, loc="lower right")
    right.set_title("cumulative energy", fontsize=10)
    name = f" of {layer_name}" if layer_name else ""
    figure.suptitle(f"Singular spectrum of the filters{name}", fontsize=11)
    return figure


def primaries_figure(rebuild: PrimaryRebuild, *, layer_name: str = "") -> Figure:
    """How well the filters are rebuilt from the first ``P`` primaries (mean and worst filter), and
    the parameters of a LinearConv with ``P`` primaries against the dense layer."""
    instance_of("rebuild", rebuild, PrimaryRebuild)
    text("layer_name", layer_name)
    r2 = rebuild.r2_by_primaries
    count = r2.shape[0]
    primaries = torch.arange(count + 1)
    figure = new_figure(6.0, 6.6)  # panels stacked: shown in 3/5 of the page's column, texts stay legible
    left, right = figure.subplots(2, 1)
    left.plot(as_numpy(primaries), as_numpy(r2.mean(dim=0)), label="mean over filters")
    left.plot(as_numpy(primaries), as_numpy(r2.min(dim=0).values), label="worst filter")
    left.axhline(rebuild.r2_target, color="grey", linestyle=":", label=f"target R² {rebuild.r2_target:g}")
    left.axvline(
        rebuild.primaries_needed,
        color="#d94801",
        linestyle="--",
        label=f"{rebuild.primaries_needed} primaries reach it",
    )
    left.axvline(count // 2, color="#6a51a3", linestyle="-.", label=f"paper's P = N/2 = {count // 2}")
    left.set_xlabel("primary filters P (greedy order)")
    left.set_ylabel("R² of the rebuilt filters")
    left.set_ylim(0, 1.02)
    left.legend(fontsize=7, loc="best")
    left.set_title("rebuild of every filter from P primaries", fontsize=10)
    filter_size = rebuild.dense_params // count
    params = [p * filter_size + (count - p) * p for p in range(count + 1)]
    right.plot(range(count + 1), params, label="LinearConv (full coefficients)")
    right.axhline(rebuild.dense_params, color="black", linestyle=":", label="dense layer")
    right.axvline(
        rebuild.primaries_needed, color="#d94801", linestyle="--", label=f"saves {rebuild.params_saved:,} params"
    )
    right.set_xlabel("primary filters P")
    right.set_ylabel("weights (bias excluded)")
    right.legend(fontsize=7, loc="best")
    right.set_title("parameters", fontsize=10)
    name = f" of {layer_name}" if layer_name else ""
    figure.suptitle(
        f"How many LinearConv primaries{name}\nwould rebuild every filter to R² >= {rebuild.r2_target:g}", fontsize=11
    )
    return figure


def linearconv_figure(inspection: LinearConvInspection, *, layer_name: str = "") -> Figure:
    """A LinearConv layer: correlation of its primaries, the coefficient matrix, and the correlation
    of the composed weight."""
    instance_of("inspection", inspection, LinearConvInspection)
    text("layer_name", layer_name)
    figure = new_figure(14.0, 4.6)
    axes = figure.subplots(1, 3)
    primary = axes[0].imshow(
        as_numpy(inspection.primary_correlation.matrix), cmap=SIMILARITY_CMAP, vmin=-1, vmax=1, interpolation="nearest"
    )
    axes[0].set_title(
        f"primary filters ({inspection.num_primaries})\nregulariser sum|R - I| = {inspection.regulariser:.1f}",
        fontsize=9,
    )
    colorbar(figure, primary, axes[0], "Pearson correlation")
    coefficients = as_numpy(inspection.coefficients)
    bound = max(1e-12, float(abs(coefficients).max()))
    shown = axes[1].imshow(
        coefficients, cmap=SIMILARITY_CMAP, vmin=-bound, vmax=bound, interpolation="nearest", aspect="auto"
    )
    axes[1].set_xlabel("primary filter")
    axes[1].set_ylabel("secondary filter")
    axes[1].set_title("coefficients: secondary = sum coef x primary", fontsize=9)
    colorbar(figure, shown, axes[1], "coefficient")
    composed = axes[2].imshow(
        as_numpy(inspection.composed_correlation.matrix), cmap=SIMILARITY_CMAP, vmin=-1, vmax=1, interpolation="nearest"
    )
    axes[2].set_title(
        f"all {inspection.num_primaries + inspection.num_secondaries} filters the layer runs (primaries first)",
        fontsize=9,
    )
    colorbar(figure, composed, axes[2], "Pearson correlation")
    for ax in (axes[0], axes[2]):
        ax.set_xlabel("filter")
        ax.set_ylabel("filter")
    name = f" {layer_name}" if layer_name else ""
    figure.suptitle(f"LinearConv layer{name}", fontsize=11)
    return figure
