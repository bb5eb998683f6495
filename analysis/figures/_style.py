"""Shared helpers of the figure builders: Agg-backed figures outside pyplot, colour bars, tiling."""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.text import Text

SIMILARITY_CMAP = "RdBu_r"
MAP_CMAP = "viridis"
HEAT_CMAP = "magma"
REPRESENTATIVE_COLOUR = "#1f77b4"
REDUNDANT_COLOUR = "#ff7f0e"


class PlainTextFigure(Figure):
    """A figure whose texts are drawn exactly as written: names from files and models (``$x^2$``, ``a_b``, an
    odd ``$``) never become matplotlib mathtext, which would typeset them or raise on an unbalanced ``$``.

    Titles, labels, legends and tick labels all end up here; ``set_parse_math(False)`` is set on every text
    (ticks created first, as the draw would) right before the figure is drawn or saved."""

    def draw(self, renderer) -> None:
        for axes in self.axes:
            for axis in (axes.xaxis, axes.yaxis):
                axis.get_major_ticks()
                axis.get_minor_ticks()
        for text in self.findobj(Text):
            text.set_parse_math(False)
        super().draw(renderer)


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure drawn by the Agg backend, not registered with pyplot (close it by dropping it); every text
    in it is plain text (see :class:`PlainTextFigure`)."""
    figure = PlainTextFigure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def colorbar(figure: Figure, mappable: ScalarMappable, axes: Axes | list[Axes], label: str) -> None:
    bar = figure.colorbar(mappable, ax=axes, shrink=0.85)
    bar.set_label(label)


def as_numpy(values: torch.Tensor) -> np.ndarray:
    return values.detach().cpu().double().numpy()


def normalise_per_map(maps: np.ndarray) -> np.ndarray:
    """Scale each ``H x W`` map of ``K x H x W`` to [0, 1] (a constant map becomes 0.5)."""
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    span = high - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.5)


def tile(maps: np.ndarray, columns: int, gap_px: int = 1) -> np.ndarray:
    """``K x H x W`` maps as one ``rows*(H+gap) x columns*(W+gap)`` image; gaps are NaN (drawn blank)."""
    count, height, width = maps.shape
    rows = math.ceil(count / columns)
    canvas = np.full((rows * (height + gap_px) - gap_px, columns * (width + gap_px) - gap_px), np.nan)
    for index in range(count):
        row, column = divmod(index, columns)
        top, left = row * (height + gap_px), column * (width + gap_px)
        canvas[top : top + height, left : left + width] = maps[index]
    return canvas


def display_image(image: torch.Tensor) -> np.ndarray:
    """A ``C x H x W`` image (C = 1 or 3) as ``H x W x 3`` in [0, 1]; min-max scaled if outside it."""
    array = as_numpy(image)
    if array.shape[0] == 1:
        array = np.repeat(array, 3, axis=0)
    array = array[:3].transpose(1, 2, 0)
    if array.min() < 0 or array.max() > 1:
        span = array.max() - array.min()
        array = (array - array.min()) / span if span > 0 else np.zeros_like(array)
    return array


def layer_tick_labels(axes: Axes, names: list[str], axis: str = "x", max_labels: int = 40) -> None:
    """Put layer names on an axis, every ``n``-th one when there are more than ``max_labels``."""
    step = max(1, math.ceil(len(names) / max_labels))
    positions = list(range(0, len(names), step))
    labels = [names[i] for i in positions]
    if axis == "x":
        axes.set_xticks(positions, labels, rotation=90, fontsize=7)
    else:
        axes.set_yticks(positions, labels, fontsize=7)


#: Texts are raised a little above what the current width needs: the box they widen then needs no further
#: round (each round is a draw, the dearest step of showing a figure).
_SIZE_MARGIN = 1.04


def make_legible(figure: Figure, displayed_width_px: float, min_text_px: float = 10.0) -> Figure:
    """Raise every text of ``figure`` to at least ``min_text_px`` pixels once the figure is shown
    ``displayed_width_px`` wide (whatever its dpi: shown size / inches is what scales the text), and
    return it with its layout fixed as drawn at those sizes (saving it then lays nothing out again). A
    point is 1/72 inch, so a text of ``s`` points shows at ``s * displayed_width_px / (72 * width_in)``
    pixels."""
    pad_in = 2 * float(rcParams["savefig.pad_inches"])
    width_in = float(figure.get_size_inches()[0]) + pad_in  # a first guess: content filling the figure
    min_points = 0.0
    for _ in range(5):  # raising the texts can widen the figure's tight box, which shrinks them again
        needed = min_text_px * 72.0 * width_in / float(displayed_width_px)
        if needed <= min_points:
            break
        min_points = needed * _SIZE_MARGIN
        for axes in figure.axes:  # tick labels exist only once asked for
            for axis in (axes.xaxis, axes.yaxis):
                axis.get_major_ticks()
        for text in figure.findobj(Text):
            if text.get_text() and text.get_fontsize() < min_points:
                text.set_fontsize(min_points)
        for axes in figure.axes:  # ticks made later (at draw) follow the axis' tick parameters
            if _ticks_small(axes, min_points):
                axes.tick_params(which="both", labelsize=min_points)
        # laid out at these sizes; saved with bbox_inches="tight", the image is as wide as the texts' box and pad
        figure.draw_without_rendering()
        width_in = max(float(figure.get_size_inches()[0]),
                       float(figure.get_tightbbox().width) + pad_in)
    figure.set_layout_engine("none")  # the last draw laid it out at the final sizes
    return figure


def _ticks_small(axes: Axes, min_points: float) -> bool:
    labels = axes.get_xticklabels() + axes.get_yticklabels()
    return any(label.get_fontsize() < min_points for label in labels)
