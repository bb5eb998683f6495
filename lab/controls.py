"""Explicit controls for heavy work."""

from __future__ import annotations

import streamlit as st

from analysis import LayerChoice

_ASKED_PREFIX = "lab_asked_"


def asked_for(key: str, label: str, *, help: str | None = None) -> bool:
    """A button whose click is remembered for the session (page switches included), so heavy work
    runs only once the user asked for it and its cached result is shown again on return."""
    state_key = _ASKED_PREFIX + key
    if not st.session_state.get(state_key, False) and st.button(label, key=f"button_{key}", help=help, type="primary"):
        st.session_state[state_key] = True
    return bool(st.session_state.get(state_key, False))


def layer_picker(label: str, layers: list[str], choice: LayerChoice | None, *, key: str, where=st) -> str:
    """A layer selectbox that opens on ``choice.layer`` (the layer where the page's effect is clearest) and
    says in one line why; without a choice it opens on the first layer."""
    index = layers.index(choice.layer) if choice is not None and choice.layer in layers else 0
    layer = where.selectbox(label, layers, index=index, key=key)
    if choice is not None and choice.layer in layers:
        if layer == choice.layer:
            st.caption(choice.reason)
        else:  # the user's pick (or one kept from other settings): the reason would name another layer
            own = f"; **{layer}**: {choice.scores[layer]:.3f}" if layer in choice.scores else ""
            st.caption(f"Showing your pick. The layer with the highest {choice.measure} is **{choice.layer}** "
                       f"({choice.score:.3f}{own}).")
    return layer


def keep_widget_state(keys: tuple[str, ...]) -> None:
    """Keep the values of the widgets ``keys`` while their page is not shown: Streamlit drops a widget's
    state at the end of a run that did not draw it, so a page switch would reset the choice (and show a
    result under another label). Re-assigning a value turns it into plain session state that persists.
    Only for widgets whose options do not depend on the model (a kept value must stay a valid option)."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
