"""The images the views run on: bundled samples (Fashion-MNIST, photos), uploads and the camera."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from importlib import resources

import streamlit as st
from PIL import Image

from analysis import load_image

FASHION_SAMPLES_PACKAGE = "slimconv.models"
FASHION_SAMPLES_FOLDER = ("samples", "fashion-mnist")
PHOTO_SAMPLES = ("china.jpg", "flower.jpg")
IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"]


@dataclass(frozen=True)
class ImageItem:
    """One image of the session: ``key`` (content digest) identifies it in the caches."""

    name: str
    image: Image.Image
    key: str


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def decode_image(name: str, data: bytes) -> ImageItem:
    """Decode uploaded bytes with :func:`analysis.load_image` (``"L"``/``"RGB"``, upright, bounded size,
    ``image.info["load_notes"]``); raises its ``ImageLoadError`` (a ``ValueError``) naming the file."""
    upload = io.BytesIO(data)
    upload.name = name  # the loader's messages start with the file's name
    return ImageItem(name=name, image=load_image(upload), key=_digest(data))


def fashion_sample_names() -> list[str]:
    folder = resources.files(FASHION_SAMPLES_PACKAGE).joinpath(*FASHION_SAMPLES_FOLDER)
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".png"))


def sample_names() -> list[str]:
    """Bundled samples: the Fashion-MNIST test images, then scikit-learn's two photos."""
    return [*fashion_sample_names(), *PHOTO_SAMPLES]


@st.cache_data(max_entries=64, show_spinner=False)
def _sample_bytes(name: str) -> bytes:
    if name in PHOTO_SAMPLES:
        from sklearn.datasets import load_sample_image

        buffer = io.BytesIO()
        Image.fromarray(load_sample_image(name)).save(buffer, format="PNG")
        return buffer.getvalue()
    return resources.files(FASHION_SAMPLES_PACKAGE).joinpath(*FASHION_SAMPLES_FOLDER, name).read_bytes()


def load_sample(name: str) -> ImageItem:
    """A bundled sample by file name (see :func:`sample_names`)."""
    return decode_image(name, _sample_bytes(name))
