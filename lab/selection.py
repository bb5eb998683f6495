"""What the sidebar chose, kept in ``st.session_state`` and read by every page."""

from __future__ import annotations

import streamlit as st
import torch

from .images import ImageItem
from .models import LoadedModel

MODEL_KEY = "lab_model"
IMAGES_KEY = "lab_images"
TRAINED_KEY = "lab_trained_checkpoints"


def set_current(model: LoadedModel | None, images: list[ImageItem]) -> None:
    st.session_state[MODEL_KEY] = model
    st.session_state[IMAGES_KEY] = images


def current_model() -> LoadedModel:
    """The sidebar's model; without one, the page says what to do and stops."""
    model = st.session_state.get(MODEL_KEY)
    if model is None:
        st.info("Choose a model in the sidebar to start.")
        st.stop()
    return model


def current_images() -> list[ImageItem]:
    """The sidebar's images (at least one); without any, the page says what to do and stops."""
    images = st.session_state.get(IMAGES_KEY) or []
    if not images:
        st.info("Choose, upload or take at least one image in the sidebar.")
        st.stop()
    return images


def model_batch(model: LoadedModel, images: list[ImageItem]) -> torch.Tensor:
    """The images preprocessed the model's way: ``B x C x H x W`` on the model's device, ``C x H x W`` being
    the model's input size whatever the images' size (the resolution bound of :mod:`lab.bounds`)."""
    batch = torch.cat([model.preprocess(item.image) for item in images])
    if tuple(batch.shape[1:]) != tuple(model.input_size):
        raise ValueError(f"the preprocessing of {model.label} makes {tuple(batch.shape[1:])} inputs, not its "
                         f"input size {tuple(model.input_size)}; choose another model")
    return batch.to(model.device)


def trained_checkpoints() -> dict[str, str]:
    """Checkpoints written by the Train page in this session: label -> file path."""
    return st.session_state.setdefault(TRAINED_KEY, {})
