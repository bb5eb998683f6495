""""Download as notebook" on each analysis page: the page's model source, images and choices handed to
:func:`analysis.notebooks.page_notebook`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from analysis.notebooks import NotebookImage, page_notebook

from .images import ImageItem, load_sample, sample_names
from .models import LoadedModel


def notebook_images(images: Sequence[ImageItem]) -> list[NotebookImage]:
    """Bundled samples by name (when the item is exactly that sample); every other image embedded as PNG."""
    bundled = set(sample_names())
    return [NotebookImage(item.name) if item.name in bundled and load_sample(item.name).key == item.key
            else NotebookImage.embedded(item.name, item.image) for item in images]


def _file_name(page: str, model: LoadedModel) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", f"{page}-{model.label}").strip("-")[:80] + ".ipynb"


def notebook_button(page: str, explanation: str, model: LoadedModel, images: Sequence[ImageItem],
                    options: Mapping[str, Any]) -> None:
    """A download button for ``page``'s notebook; a caption instead when the model's source is unknown."""
    if model.source is None:
        st.caption("No notebook for this model: the lab does not know how to rebuild it outside the app.")
        return
    text = page_notebook(page, explanation, model.source, notebook_images(images), options)
    note = (" It reads the checkpoint from the path in its first cell: set it to your copy of the file."
            if model.source.kind in ("checkpoint", "torchvision-file") else "")
    st.download_button("Download as notebook", text, file_name=_file_name(page, model),
                       mime="application/x-ipynb+json", key=f"notebook_{page}", icon=":material/download:",
                       help="A Jupyter notebook that reproduces this page's figures and tables with the library, "
                            f"for the same model, images and choices.{note}")
