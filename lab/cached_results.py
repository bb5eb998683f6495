"""Analysis results cached per model, images and settings (``st.cache_data``), so that a rerun or a
page switch with the same choice reuses them instead of running the model again.

The model and the batch are passed with a leading underscore (not hashed); ``model.key`` and the
images' keys identify them. Every model run goes through :func:`lab.device_fallback.run_models` (turns on
the shared model, CPU fallback when the GPU is out of memory).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
import torch

import analysis
import slimconv

from .device_fallback import run_models
from .images import ImageItem
from .models import LoadedModel
from .selection import model_batch

MAX_CACHED_RESULTS = 32


def image_keys(images: Sequence[ImageItem]) -> tuple[str, ...]:
    return tuple(item.key for item in images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Running the model ...")
def _captured(model_key: str, keys: tuple[str, ...], layers: tuple[str, ...], of: str,
              _model: LoadedModel, _images: Sequence[ImageItem]) -> analysis.CapturedActivations:
    return run_models("capturing the activations", lambda loaded: analysis.capture_activations(
        loaded.model, model_batch(loaded, list(_images)), list(layers), of=of), _model)


def activations(model: LoadedModel, images: Sequence[ImageItem], layers: Sequence[str],
                of: str = "output") -> analysis.CapturedActivations:
    """What ``layers`` produced (``of="output"``) or received (``"input"``) for ``images``."""
    return _captured(model.key, image_keys(images), tuple(layers), of, model, images)


def layer_input(model: LoadedModel, images: Sequence[ImageItem], layer: str) -> torch.Tensor:
    """What ``layer`` received for ``images`` (``B x C x H x W``), on the model's device, for inspecting
    that layer on its exact input."""
    return activations(model, images, [layer], of="input").activations[layer].to(model.device)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Inspecting the layer ...")
def _spconv_inspection(model_key: str, keys: tuple[str, ...], layer: str, _model: LoadedModel,
                       _images: Sequence[ImageItem]) -> analysis.SPConvInspection:
    return run_models(f"inspecting {layer}", lambda loaded: analysis.inspect_spconv_in_model(
        loaded.model, layer, model_batch(loaded, list(_images))), _model)


def spconv_inspection(model: LoadedModel, images: Sequence[ImageItem], layer: str) -> analysis.SPConvInspection:
    """Both branches and the fusion weights of SPConv layer ``layer`` on its exact input for ``images``."""
    return _spconv_inspection(model.key, image_keys(images), layer, model, images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Inspecting every PEDConv layer ...")
def _pedconv_inspections(model_key: str, keys: tuple[str, ...], _model: LoadedModel,
                         _images: Sequence[ImageItem]) -> dict[str, analysis.PEDConvInspection]:
    return run_models("inspecting the PEDConv layers", lambda loaded: analysis.inspect_pedconv_layers(
        loaded.model, model_batch(loaded, list(_images))), _model)


def pedconv_inspections(model: LoadedModel, images: Sequence[ImageItem]) -> dict[str, analysis.PEDConvInspection]:
    """The factors of every PEDConv layer of ``model`` for ``images``, from one forward pass."""
    return _pedconv_inspections(model.key, image_keys(images), model, images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Measuring the redundancy of every layer ...")
def _report(model_key: str, keys: tuple[str, ...], metric: str, threshold: float,
            _model: LoadedModel, _images: Sequence[ImageItem]) -> analysis.RedundancyReport:
    return run_models("measuring the redundancy", lambda loaded: analysis.redundancy_report(
        loaded.model, model_batch(loaded, list(_images)), metric=metric, threshold=threshold), _model)


def network_report(model: LoadedModel, images: Sequence[ImageItem], metric: str,
                   threshold: float) -> analysis.RedundancyReport:
    """The redundancy scores of every convolution of ``model`` for ``images``."""
    return _report(model.key, image_keys(images), metric, threshold, model, images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Counting parameters and MACs ...")
def _profile_table(model_key: str, _model: LoadedModel) -> slimconv.ProfileTable:
    return run_models("profiling the model", lambda loaded: slimconv.profile(loaded.model, loaded.input_size).training,
                      _model)


def profile_table(model: LoadedModel) -> slimconv.ProfileTable:
    """Per-layer parameters and MACs of one input through ``model`` (training form)."""
    return _profile_table(model.key, model)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def _top_classes(model_key: str, keys: tuple[str, ...], _model: LoadedModel,
                 _images: Sequence[ImageItem]) -> pd.DataFrame:
    def classify(loaded: LoadedModel) -> torch.Tensor:
        with torch.no_grad():
            return loaded.model(model_batch(loaded, list(_images))).softmax(dim=1).cpu()

    probabilities = run_models("classifying the images", classify, _model)
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
    return run_models("comparing the models", lambda a, b: analysis.model_cka_map(
        a.model, b.model, model_batch(a, list(_images)), debiased=debiased), _model_a, _model_b)


def cka(model_a: LoadedModel, model_b: LoadedModel, images: Sequence[ImageItem], debiased: bool) -> analysis.CKAMap:
    """Linear CKA between every convolution of ``model_a`` and of ``model_b`` on ``images``; the models must
    take the same inputs (``ValueError`` otherwise)."""
    if model_a.input_size != model_b.input_size:
        raise ValueError(f"{model_a.label} takes {model_a.input_size} inputs and {model_b.label} "
                         f"{model_b.input_size}; choose two models with the same input size")
    return _cka(model_a.key, model_b.key, image_keys(images), debiased, model_a, model_b, images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Finding the layer where the effect is clearest ...")
def _alike_layer(model_key: str, keys: tuple[str, ...], metric: str, threshold: float, of: str,
                 layers: tuple[str, ...] | None, _model: LoadedModel,
                 _images: Sequence[ImageItem]) -> analysis.LayerChoice:
    return run_models("choosing the layer", lambda loaded: analysis.most_alike_layer(
        loaded.model, model_batch(loaded, list(_images)), metric=metric, threshold=threshold, of=of,
        layer_names=layers), _model)


def alike_layer(model: LoadedModel, images: Sequence[ImageItem], metric: str, threshold: float, *,
                of: str = "output", layers: Sequence[str] | None = None) -> analysis.LayerChoice:
    """The layer (of ``layers``, default every convolution) whose output (or input) for ``images`` has the
    largest share of alike channel pairs (:func:`analysis.most_alike_layer`)."""
    return _alike_layer(model.key, image_keys(images), metric, threshold, of,
                        None if layers is None else tuple(layers), model, images)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def _filters_layer(model_key: str, _model: LoadedModel) -> analysis.LayerChoice | None:
    try:
        return analysis.most_correlated_filters_layer(_model.model)
    except ValueError:  # no layer with one plain weight tensor
        return None


def correlated_filters_layer(model: LoadedModel) -> analysis.LayerChoice | None:
    """The layer whose filters are most correlated; ``None`` when no layer has one plain weight tensor."""
    return _filters_layer(model.key, model)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Searching each dense layer's best grouping ...")
def _groupable_layer(model_key: str, groups: int, layers: tuple[str, ...], _model: LoadedModel) -> analysis.LayerChoice:
    return analysis.most_groupable_layer(_model.model, layers, groups)


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner=False)
def _layer_grouping(model_key: str, layer: str, groups: int, _model: LoadedModel) -> analysis.DenseGrouping:
    return analysis.dense_grouping(_model.model.get_submodule(layer).weight, groups)


def layer_grouping(model: LoadedModel, layer: str, groups: int) -> analysis.DenseGrouping:
    """:func:`analysis.dense_grouping` of the dense convolution ``layer`` (searched once, not on every rerun)."""
    return _layer_grouping(model.key, layer, groups, model)


def groupable_layer(model: LoadedModel, groups: int, layers: Sequence[str]) -> analysis.LayerChoice:
    """Of the dense convolutions ``layers``, the one whose weights a grouping into ``groups`` fits best
    (:func:`analysis.most_groupable_layer`)."""
    return _groupable_layer(model.key, groups, tuple(layers), model)
