"""Attribution results cached per model, images and method (captum runs behind an explicit control)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import streamlit as st
import torch

import analysis
from analysis.attribution.choices import attribution_method

from .cached_results import MAX_CACHED_RESULTS, image_keys
from .device_fallback import run_models
from .images import ImageItem
from .models import LoadedModel
from .selection import model_batch


def _method(name: str, model: LoadedModel, layer: str) -> analysis.AttributionMethod:
    return attribution_method(name, model.model, layer, model.input_size)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Computing attributions ...")
def _attributions(model_key: str, keys: tuple[str, ...], method: str, layer: str, _model: LoadedModel,
                  _images: Sequence[ImageItem]) -> analysis.AttributionMaps:
    return run_models(f"{method} attributions", lambda loaded: _method(method, loaded, layer).attribute(
        model_batch(loaded, list(_images))), _model)


def attributions(model: LoadedModel, images: Sequence[ImageItem], method: str,
                 layer: str) -> analysis.AttributionMaps:
    """``method`` (one of :data:`METHODS`; ``layer`` is Grad-CAM's) for each image's predicted class."""
    return _attributions(model.key, image_keys(images), method, layer, model, images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Ablating every channel ...")
def _importance(model_key: str, keys: tuple[str, ...], layer: str, _model: LoadedModel,
                _images: Sequence[ImageItem]) -> analysis.ChannelImportance:
    return run_models(f"the channel importance of {layer}", lambda loaded: analysis.channel_importance(
        loaded.model, layer, model_batch(loaded, list(_images))), _model)


def channel_importance(model: LoadedModel, images: Sequence[ImageItem], layer: str) -> analysis.ChannelImportance:
    """How much each channel of ``layer`` matters to each image's predicted class (ablation)."""
    return _importance(model.key, image_keys(images), layer, model, images)


def display_batch(model: LoadedModel, images: Sequence[ImageItem]) -> torch.Tensor:
    """The model's inputs as ``B x 3 x H x W`` for drawing (grey inputs repeated over colour)."""
    batch = model_batch(model, list(images)).cpu()
    return batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch


def occlusion_estimate_s(model: LoadedModel, images: Sequence[ImageItem]) -> float:
    """Seconds occlusion should take on ``images`` (measured once per model and images)."""
    return _occlusion_estimate_s(model.key, image_keys(images), model, images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Timing one forward pass ...")
def _occlusion_estimate_s(model_key: str, keys: tuple[str, ...], _model: LoadedModel,
                          _images: Sequence[ImageItem]) -> float:
    """Seconds occlusion should take on ``images``: one timed forward pass of a batch as large as one
    occlusion step (``perturbations_per_eval`` occluded copies of every image) times the number of steps."""
    model, images = _model, _images
    method = _method("occlusion", model, "")
    side_h, side_w = model.input_size[1:]
    positions = (((side_h - method.window_px) // method.stride_px + 1)
                 * ((side_w - method.window_px) // method.stride_px + 1))
    copies = min(method.perturbations_per_eval, positions)
    batch = model_batch(model, list(images)).repeat(copies, 1, 1, 1)
    with torch.no_grad():
        model.model(batch[:1])  # warm-up: the first pass pays one-off costs
        started = time.perf_counter()
        model.model(batch)
        seconds = time.perf_counter() - started
    return math.ceil(positions / copies) * seconds
