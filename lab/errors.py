"""Errors a user can cause, shown with ``st.error`` (what went wrong and what to do), never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from PIL import UnidentifiedImageError

from slimconv import SlimconvError

from .text import literal

#: Exceptions whose message is meant for the user: bad files, bad choices, unavailable weights.
USER_ERRORS: tuple[type[Exception], ...] = (SlimconvError, ValueError, UnidentifiedImageError, OSError)


def user_message(doing: str, error: Exception) -> str | None:
    """What to tell the user about ``error`` raised while trying to ``doing``; ``None`` for a bug."""
    if isinstance(error, USER_ERRORS):
        return f"Could not {doing}: {error}"
    if isinstance(error, RuntimeError) and "out of memory" in str(error).lower():
        return f"Could not {doing}: out of memory. Choose fewer or smaller images, a smaller input, or another device."
    return None


@contextmanager
def user_errors(doing: str) -> Iterator[None]:
    """Run the block; a user error becomes an ``st.error`` and the page stops there (bugs propagate).

    ``doing`` completes "Could not ..." (e.g. ``"load the checkpoint"``).
    """
    try:
        yield
    except Exception as error:
        message = user_message(doing, error)
        if message is None:
            raise
        st.error(literal(message))  # it names files and classes: shown as written
        st.stop()
