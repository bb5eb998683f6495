"""What the model actually sees of each image, and how far each image is from what it was trained on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st
import torch
from PIL import Image

import slimconv
from analysis.ood import OODReference, far_note, penultimate_features, read_distances, training_description

from .device_fallback import run_models
from .images import ImageItem
from .models import LoadedModel
from .selection import model_batch

SHOWN_SIDE = 84  # the model's input drawn with square pixels at this side


def _normalisation(model: LoadedModel) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    preprocess = model.preprocess
    spec = getattr(preprocess, "mean", None), getattr(preprocess, "std", None)
    if spec[0] is None:
        transforms = getattr(preprocess, "_transforms", None)
        spec = getattr(transforms, "mean", None), getattr(transforms, "std", None)
    return None if spec[0] is None or spec[1] is None else (tuple(spec[0]), tuple(spec[1]))


def model_view(model: LoadedModel, item: ImageItem) -> Image.Image:
    """The ``C x H x W`` tensor the model gets for ``item``, un-normalised to 0..1 and enlarged with square pixels."""
    tensor = model.preprocess(item.image)[0].float()
    normalisation = _normalisation(model)
    if normalisation is None:  # unknown normalisation: stretch the values to 0..1
        tensor = (tensor - tensor.min()) / (tensor.max() - tensor.min()).clamp_min(1e-12)
    else:
        mean, std = (torch.tensor(v).view(-1, 1, 1) for v in normalisation)
        tensor = tensor * std + mean
    pixels = (tensor.clamp(0, 1) * 255).round().byte()
    image = Image.fromarray(pixels[0].numpy()) if pixels.shape[0] == 1 else \
        Image.fromarray(pixels.permute(1, 2, 0).numpy())
    return image.resize((SHOWN_SIDE, SHOWN_SIDE), Image.Resampling.NEAREST)


def input_caption(model: LoadedModel) -> str:
    channels, height, width = model.input_size
    colour = "grey" if channels == 1 else "colour"
    return (f"Each image as given (left) and as {model.label} sees it (right): {height}x{width} in {colour}, after "
            "its preprocessing (resize, crop, pad).")


@dataclass(frozen=True)
class OODSummary:
    """Each image's reading (``None`` when not available), the warning for far images, and why not available."""

    readings: list[str] | None
    note: str | None
    unavailable: str | None


def untrained_note(model: LoadedModel) -> str | None:
    """Why a model converted on the fly to an operator whose layers start untrained predicts nothing it learned
    (``None`` for any other model): otherwise its confident-looking predictions would pass for the model's. So
    does a torchvision architecture with random weights."""
    if model.source is not None and model.source.kind == "torchvision-random":
        return ("This model has random weights (structure only): the predictions below are those of an untrained "
                "network and mean nothing, and its layers' redundancy is that of random weights, not of training. "
                "Its parameters, MACs and measured speed are real.")
    op = "" if model.source is None else model.source.op
    if not op or not slimconv.get_op(op).starts_untrained:
        return None
    return (f"This model was converted to {op} here, and {op} layers start untrained (nothing of the dense layers "
            "carries over): the predictions below come from random layers, not from what the model learned. "
            f"Train the converted model on the Train page, or choose a zoo model trained with {op}.")


def _unavailable(model: LoadedModel) -> str:
    if model.meta is None and "->" in model.label:
        return ("The out-of-distribution reading is not available: the conversion replaced the layers of the trained "
                "model, and the reference statistics belong to the trained checkpoint. Keep the model as trained to "
                "see it.")
    if model.meta is None:
        return ("The out-of-distribution reading is not available for torchvision models: their weights carry no "
                "statistics of the images they were trained on.")
    return ("The out-of-distribution reading is not available: this checkpoint's metadata has no reference statistics "
            "(they are added when the zoo is built, by scripts/add_ood_reference.py).")


@st.cache_data(max_entries=32, show_spinner=False)
def _ood(model_key: str, keys: tuple[str, ...], _model: LoadedModel, _images: Sequence[ImageItem]) -> OODSummary:
    meta = _model.meta
    if meta is None or meta.ood is None:
        return OODSummary(None, None, _unavailable(_model))
    reference = OODReference.from_meta(meta.ood)
    features = run_models("reading the images' distance from the training data", lambda loaded: penultimate_features(
        loaded.model, model_batch(loaded, list(_images)), reference.layer)[1], _model)
    readings = read_distances(reference, reference.distances(features))
    far = [item.name for item, reading in zip(_images, readings, strict=True) if reading.far]
    description = training_description(meta.dataset, meta.classes, meta.input.crop, meta.in_chans)
    return OODSummary([("far: " if r.far else "") + r.band for r in readings],
                      far_note(description, far) if far else None, None)


def ood_summary(model: LoadedModel, images: Sequence[ImageItem]) -> OODSummary:
    """The out-of-distribution reading of every image for ``model`` (see :mod:`analysis.ood`)."""
    return _ood(model.key, tuple(item.key for item in images), model, images)
