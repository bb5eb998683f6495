"""Streamlit glue of the app, in one place beside the pages: the shared sidebar, session state,
bounded cached loaders and results, figure/table output with downloads, and user-error display.

Pages import from here and from :mod:`analysis`; nothing here holds numerical logic of its own.
"""

from .cached_results import (
    activations,
    alike_layer,
    correlated_filters_layer,
    groupable_layer,
    layer_grouping,
    layer_input,
    network_report,
    predictions,
    profile_table,
)
from .controls import asked_for, keep_widget_state, layer_picker
from .errors import user_errors
from .images import ImageItem
from .models import PRETRAINED_DIR_VARIABLE, LoadedModel
from .notebook import notebook_button
from .outputs import show_figure, show_table
from .selection import current_images, current_model, model_batch, trained_checkpoints
from .sidebar import model_picker, render_sidebar
from .text import literal

__all__ = [
    "notebook_button",
    "PRETRAINED_DIR_VARIABLE",
    "ImageItem",
    "LoadedModel",
    "activations",
    "alike_layer",
    "asked_for",
    "correlated_filters_layer",
    "groupable_layer",
    "layer_grouping",
    "current_images",
    "current_model",
    "keep_widget_state",
    "layer_input",
    "layer_picker",
    "literal",
    "model_batch",
    "model_picker",
    "network_report",
    "predictions",
    "profile_table",
    "render_sidebar",
    "show_figure",
    "show_table",
    "trained_checkpoints",
    "user_errors",
]
