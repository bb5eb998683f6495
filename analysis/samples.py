"""The bundled sample images by name, without Streamlit: the Fashion-MNIST test images that ship with
``slimconv.models`` (``<class>_<test index>.png``, labelled by their file name) and scikit-learn's two photos.

The lab shows them in its sidebar; the notebooks it writes load the same files through this module.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import torch

FASHION_SAMPLES_PACKAGE = "slimconv.models"
FASHION_SAMPLES_FOLDER = ("samples", "fashion-mnist")
PHOTO_SAMPLES = ("china.jpg", "flower.jpg")


def _fashion_folder() -> Traversable:
    return resources.files(FASHION_SAMPLES_PACKAGE).joinpath(*FASHION_SAMPLES_FOLDER)


def fashion_sample_names() -> list[str]:
    """The bundled Fashion-MNIST test images, sorted by name (class, then test-set index)."""
    return sorted(entry.name for entry in _fashion_folder().iterdir() if entry.name.endswith(".png"))


def _photo_path(name: str) -> Path:
    """scikit-learn's sample photo, read from its package folder (importing ``sklearn.datasets`` costs a second)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ValueError(f"{name} is one of scikit-learn's sample photos, and scikit-learn is not installed")
    return Path(spec.origin).parent / "datasets" / "images" / name


def sample_path(name: str) -> Traversable:
    """The file of bundled sample ``name`` (a Fashion-MNIST PNG or one of :data:`PHOTO_SAMPLES`)."""
    if name in PHOTO_SAMPLES:
        return _photo_path(name)
    path = _fashion_folder().joinpath(name)
    if not name.endswith(".png") or not path.is_file():
        raise ValueError(f"{name!r} is not a bundled sample; the samples are {', '.join(PHOTO_SAMPLES)} and "
                         f"the Fashion-MNIST images such as {fashion_sample_names()[0]}")
    return path


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def sample_labels(names: Sequence[str], classes: Sequence[str]) -> torch.Tensor:
    """The class index in ``classes`` of each Fashion-MNIST sample of ``names`` (``"ankle-boot_00000.png"`` ->
    the index of ``"Ankle boot"``): ``len(names)`` long. ``ValueError`` when a name is not of one of ``classes``
    (a photo, or a model trained on other classes)."""
    by_slug = {_slug(name): index for index, name in enumerate(classes)}
    labels = []
    for name in names:
        slug = name.rsplit("_", 1)[0]
        if slug not in by_slug:
            raise ValueError(f"{name} is not an image of one of the model's classes ({', '.join(classes[:4])}, ...)")
        labels.append(by_slug[slug])
    return torch.tensor(labels, dtype=torch.long)


def has_sample_classes(classes: Sequence[str]) -> bool:
    """Whether ``classes`` are the classes of the bundled Fashion-MNIST samples (so accuracy can be measured)."""
    slugs = {name.rsplit("_", 1)[0] for name in fashion_sample_names()}
    return slugs <= {_slug(name) for name in classes}
