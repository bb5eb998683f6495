"""Analysis results cached per model, images and settings (``st.cache_data``), so that a rerun or a
page switch with the same choice reuses them instead of running the model again.

The model and the batch are passed with a leading underscore (not hashed); ``model.key`` and the
images' keys identify them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
import torch

import analysis
import slimconv

from .images import ImageItem
from .models import LoadedModel
from .state import model_batch

MAX_CACHED_RESULTS = 32


def image_keys(images: Sequence[ImageItem]) -> tuple[str, ...]:
    return tuple(item.key for item in images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Running the model ...")
def _captured(model_key: str, keys: tuple[str, ...], layers: tuple[str, ...], of: str,
              _model: LoadedModel, _images: Sequence[ImageItem]) -> analysis.CapturedActivations:
    return analysis.capture_activations(_model.model, model_batch(_model, list(_images)), list(layers), of=of)


def activations(model: LoadedModel, images: Sequence[ImageItem], layers: Sequence[str],
                of: str = "output") -> analysis.CapturedActivations:
    """What ``layers`` produced (``of="output"``) or received (``"input"``) for ``images``."""
    return _captured(model.key, image_keys(images), tuple(layers), of, model, images)


def layer_input(model: LoadedModel, images: Sequence[ImageItem], layer: str) -> torch.Tensor:
    """What ``layer`` received for ``images`` (``B x C x H x W``), on the model's device, for inspecting
    that layer on its exact input."""
    return activations(model, images, [layer], of="input").activations[layer].to(model.device)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Measuring the redundancy of every layer ...")
def _report(model_key: str, keys: tuple[str, ...], metric: str, threshold: float,
            _model: LoadedModel, _images: Sequence[ImageItem]) -> analysis.RedundancyReport:
    return analysis.redundancy_report(_model.model, model_batch(_model, list(_images)), metric=metric,
                                      threshold=threshold)


def network_report(model: LoadedModel, images: Sequence[ImageItem], metric: str,
                   threshold: float) -> analysis.RedundancyReport:
    """The redundancy scores of every convolution of ``model`` for ``images``."""
    return _report(model.key, image_keys(images), metric, threshold, model, images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Counting parameters and MACs ...")
def _profile_table(model_key: str, _model: LoadedModel) -> slimconv.ProfileTable:
    return slimconv.profile(_model.model, _model.input_size).training


def profile_table(model: LoadedModel) -> slimconv.ProfileTable:
    """Per-layer parameters and MACs of one input through ``model`` (training form)."""
    return _profile_table(model.key, model)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def _top_classes(model_key: str, keys: tuple[str, ...], _model: LoadedModel,
                 _images: Sequence[ImageItem]) -> pd.DataFrame:
    with torch.no_grad():
        probabilities = _model.model(model_batch(_model, list(_images))).softmax(dim=1).cpu()
    best, index = probabilities.max(dim=1)
    return pd.DataFrame({"image": [item.name for item in _images],
                         "predicted class": [_model.classes[i] for i in index.tolist()],
                         "probability": best.tolist()})


def predictions(model: LoadedModel, images: Sequence[ImageItem]) -> pd.DataFrame:
    """Each image's most probable class with its probability."""
    return _top_classes(model.key, image_keys(images), model, images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Comparing every pair of layers ...")
def _cka(key_a: str, key_b: str, keys: tuple[str, ...], debiased: bool, _model_a: LoadedModel,
         _model_b: LoadedModel, _images: Sequence[ImageItem]) -> analysis.CKAMap:
    batch = model_batch(_model_a, list(_images))
    return analysis.model_cka_map(_model_a.model, _model_b.model, batch, debiased=debiased)


def cka(model_a: LoadedModel, model_b: LoadedModel, images: Sequence[ImageItem], debiased: bool) -> analysis.CKAMap:
    """Linear CKA between every convolution of ``model_a`` and of ``model_b`` on ``images``; the models must
    take the same inputs (``ValueError`` otherwise)."""
    if model_a.input_size != model_b.input_size:
        raise ValueError(f"{model_a.label} takes {model_a.input_size} inputs and {model_b.label} "
                         f"{model_b.input_size}; choose two models with the same input size")
    return _cka(model_a.key, model_b.key, image_keys(images), debiased, model_a, model_b, images)
