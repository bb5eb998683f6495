"""The images the views run on: bundled samples (Fashion-MNIST, photos), uploads and the camera.

The default set (:func:`default_sample_names`) has enough Fashion-MNIST test images for the measures
across images (CKA, similarity over images) and one photo, which the zoo's models have never seen.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import streamlit as st
from PIL import Image

from analysis import PHOTO_SAMPLES, fashion_sample_names, load_image, sample_path

#: Fashion-MNIST images in the default set: CKA and similarity across images need at least 16 samples.
DEFAULT_FASHION_COUNT = 16
#: The photo of the default set: out of the zoo's distribution, so the pages' out-of-distribution note shows.
DEFAULT_PHOTO = "flower.jpg"
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


def default_sample_names() -> list[str]:
    """The default set: :data:`DEFAULT_FASHION_COUNT` Fashion-MNIST test images taken round-robin over the
    classes (each class once before any twice), then :data:`DEFAULT_PHOTO`."""
    by_class: dict[str, list[str]] = {}
    for name in fashion_sample_names():  # "<class>_<test index>.png", in test-set order within a class
        by_class.setdefault(name.rsplit("_", 1)[0], []).append(name)
    rounds = max(map(len, by_class.values()), default=0)
    round_robin = [names[r] for r in range(rounds) for names in by_class.values() if r < len(names)]
    return [*round_robin[:DEFAULT_FASHION_COUNT], DEFAULT_PHOTO]


def sample_names() -> list[str]:
    """Bundled samples: the Fashion-MNIST test images, then scikit-learn's two photos."""
    return [*fashion_sample_names(), *PHOTO_SAMPLES]


@st.cache_data(max_entries=64, show_spinner=False)
def _sample_bytes(name: str) -> bytes:
    return sample_path(name).read_bytes()


def load_sample(name: str) -> ImageItem:
    """A bundled sample by file name (see :func:`sample_names`)."""
    return decode_image(name, _sample_bytes(name))
