"""Operator pages point at the zoo: a button that opens the bundled checkpoint trained with the operator.

A layer converted on the fly starts untrained, so its groups, fusion weights or factors show nothing
learned; the zoo's checkpoints do.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import slimconv
import slimconv.models

from .models import bundled_names, pretrained_folder
from .sidebar import NO_CONVERSION, ZOO


@st.cache_data(max_entries=8, show_spinner=False)
def _operators(folder: str, names: tuple[str, ...], stamps: tuple[int, ...]) -> dict[str, str | None]:
    """Bundled checkpoint name -> its operator (``None``: dense), read from the metadata only.

    ``stamps`` (the files' modification times) renews the answer when a checkpoint is replaced."""
    return {name: slimconv.read_checkpoint(Path(folder) / f"{name}.pt").meta.op for name in names}


def trained_with(op: str) -> list[str]:
    """The bundled checkpoints whose layers are ``op`` layers."""
    folder = pretrained_folder() or Path(slimconv.models.__file__).parent / "pretrained"
    names = tuple(bundled_names())
    stamps = tuple((folder / f"{name}.pt").stat().st_mtime_ns for name in names)
    return [name for name, used in _operators(str(folder), names, stamps).items() if used == op]


def _open(name: str) -> None:
    # A callback runs before the rerun draws the sidebar, so its widgets take these values.
    st.session_state["model_source"] = ZOO
    st.session_state["zoo_name"] = name
    st.session_state["convert_op"] = NO_CONVERSION


def offer_trained(op: str, intro: str | None = None) -> None:
    """One button per bundled checkpoint trained with ``op``, after the caption ``intro`` (nothing at all
    when the zoo has none)."""
    names = trained_with(op)
    if names and intro:
        st.caption(intro)
    for name in names:
        st.button(f"Open the trained model {name}", key=f"offer_{name}", on_click=_open, args=(name,),
                  icon=":material/model_training:")
