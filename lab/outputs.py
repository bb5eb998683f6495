"""Figures and tables as the app shows them: each with its download button (PNG or CSV)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st
import torch
from matplotlib.figure import Figure

from analysis.figures import make_legible

FIGURE_DPI = 110
#: Width in pixels of the main column in a 1400-px window with the sidebar open: figures are made legible
#: for their share of it (``column_share``).
MAIN_COLUMN_PX = 940
#: The gap Streamlit leaves between columns: a figure in a column is that much narrower than its share.
COLUMN_GAP_PX = 16
MAX_CACHED_FIGURES = 64


def _file_stem(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "figure"


def figure_png(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes (what is shown is what is downloaded)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buffer.getvalue()


@st.cache_data(max_entries=MAX_CACHED_FIGURES, show_spinner=False)
def _rendered(builder_name: str, arguments_digest: str, displayed_px: float, _builder: Callable[..., Figure],
              _args: tuple, _kwargs: dict) -> bytes:
    return figure_png(make_legible(_builder(*_args, **_kwargs), displayed_px))


def _feed(hasher: Any, value: Any) -> None:
    """Feed ``value``'s content to ``hasher``: tensors by dtype, shape and bytes (pickles of equal tensors
    differ), dataclasses field by field, containers item by item, anything else by ``repr``."""
    if isinstance(value, torch.Tensor):
        hasher.update(f"tensor {value.dtype} {tuple(value.shape)}".encode())
        hasher.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        hasher.update(type(value).__qualname__.encode())
        for field in dataclasses.fields(value):
            _feed(hasher, getattr(value, field.name))
    elif isinstance(value, (list, tuple)):
        hasher.update(f"{type(value).__name__} {len(value)}".encode())
        for item in value:
            _feed(hasher, item)
    elif isinstance(value, dict):
        hasher.update(f"dict {len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(hasher, key)
            _feed(hasher, value[key])
    else:
        hasher.update(repr(value).encode())


def _digest(args: tuple, kwargs: dict) -> str:
    """A digest of a figure builder's arguments (analysis results) by content."""
    hasher = hashlib.sha256()
    _feed(hasher, (args, kwargs))
    return hasher.hexdigest()


def show_figure(title: str, builder: Callable[..., Figure], *args: Any, caption: str | None = None,
                column_share: float = 1.0, **kwargs: Any) -> None:
    """Draw ``builder(*args, **kwargs)`` (an :mod:`analysis.figures` builder) and offer it as ``<title>.png``.

    The PNG is cached by builder and arguments: drawing a figure costs more than most analyses, and a
    rerun or a page switch with the same results shows it again at once. ``column_share``: the share of the
    main column the figure is shown in (e.g. 0.4 in ``st.columns([2, 3])``'s first); its texts are raised to
    about 10 px at that width.
    """
    shown_px = MAIN_COLUMN_PX * column_share - (COLUMN_GAP_PX if column_share < 1 else 0)
    png = _rendered(f"{builder.__module__}.{builder.__qualname__}", _digest(args, kwargs), shown_px, builder, args,
                    kwargs)
    st.image(png, caption=caption, width="stretch")
    st.download_button(f"Download {title} (PNG)", png, file_name=f"{_file_stem(title)}.png", mime="image/png",
                       key=f"png-{_file_stem(title)}", on_click="ignore")


#: Layer names such as ``layers.1.0.shortcut.0`` in full: the default column width cuts them.
LAYER_COLUMN = st.column_config.TextColumn("layer", width="medium")


def show_table(table: pd.DataFrame, title: str) -> None:
    """Show ``table`` and offer it as ``<title>.csv``."""
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"layer": LAYER_COLUMN} if "layer" in table.columns else None)
    st.download_button(f"Download {title} (CSV)", table.to_csv(index=False).encode(),
                       file_name=f"{_file_stem(title)}.csv", mime="text/csv", key=f"csv-{_file_stem(title)}",
                       on_click="ignore")
