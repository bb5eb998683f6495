"""The models the app shows, built once per choice by bounded ``st.cache_resource`` loaders.

A loaded model is never mutated after it leaves its loader: analysis attaches hooks inside context
managers and restores train/eval modes, and a conversion builds a new model from a copy.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
import torch
from PIL import Image
from torch import nn

import slimconv
from analysis.notebooks import ModelSource
from analysis.notebooks.source import CONVERSION_SEED
from slimconv.pretrained import CheckpointMeta, convert_mode
from slimconv.weight_files import (
    check_size,
    load_state_dict_strictly,
    mismatch_message,
    read_state_dict_bytes,
    state_dict_mismatches,
)

if TYPE_CHECKING:  # torchvision is imported where a torchvision model is built (a second of the cold start)
    import torchvision

#: Environment variable naming a folder of ``*.pt`` checkpoints that replaces the bundled zoo.
PRETRAINED_DIR_VARIABLE = "SLIMCONV_PRETRAINED_DIR"
MAX_CACHED_MODELS = 4
#: Uploaded files are read and validated one at a time: the memory an upload may take (its bounds are in
#: ``slimconv.weight_files`` and ``slimconv.pretrained``) is never paid by several sessions at once. Other
#: sessions' pages keep running meanwhile (each session has its own thread; the checks release the GIL often).
_UPLOAD_SLOT = threading.Lock()

Preprocess = Callable[[Image.Image], torch.Tensor]


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for the views: ``preprocess`` turns a PIL image into a ``1 x C x H x W`` batch.

    ``key`` identifies the choice (source, name, weights, operator, device) for the caches;
    ``meta`` is the checkpoint's metadata (``None`` for torchvision models); ``source`` how it was built,
    for the notebooks the pages write.
    """

    key: str
    label: str
    model: nn.Module
    preprocess: Preprocess
    classes: tuple[str, ...]
    input_size: tuple[int, int, int]
    device: str
    meta: CheckpointMeta | None = None
    source: ModelSource | None = None


def pretrained_folder() -> Path | None:
    """The folder of the zoo: ``$SLIMCONV_PRETRAINED_DIR`` when set, else ``None`` (the bundled one)."""
    value = os.environ.get(PRETRAINED_DIR_VARIABLE, "").strip()
    return Path(value) if value else None


def bundled_names() -> list[str]:
    return slimconv.list_pretrained(pretrained_folder())


def _from_checkpoint(handle: slimconv.Pretrained, key: str, label: str, device: str,
                     source: ModelSource) -> LoadedModel:
    return LoadedModel(key=key, label=label, model=handle.model.to(device).eval(), preprocess=handle.preprocess,
                       classes=handle.classes, input_size=handle.meta.input_size, device=device, meta=handle.meta,
                       source=source)


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Loading the model ...")
def load_bundled(name: str, device: str) -> LoadedModel:
    """A checkpoint of the zoo (or of ``$SLIMCONV_PRETRAINED_DIR``) on ``device``."""
    handle = slimconv.load_pretrained(name, pretrained_folder())
    return _from_checkpoint(handle, f"zoo:{name}:{device}", name, device, ModelSource("zoo", name))


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Loading the checkpoint ...")
def load_uploaded_checkpoint(file_name: str, digest: str, _data: bytes, device: str) -> LoadedModel:
    """An uploaded slimconv checkpoint (``.pt``/``.pth``/``.safetensors``); ``digest`` keys the cache."""
    upload = io.BytesIO(_data)
    upload.name = file_name  # for the messages of a bad file
    with _UPLOAD_SLOT:
        handle = slimconv.load_checkpoint(upload)
    return _from_checkpoint(handle, f"upload:{digest}:{device}", file_name, device,
                            ModelSource("checkpoint", path=file_name))


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Loading the trained model ...")
def load_checkpoint_file(path: str, label: str, modified_ns: int, device: str) -> LoadedModel:
    """A checkpoint file on this machine (e.g. one the Train page wrote); ``modified_ns`` (its
    modification time) keys the cache, so a file rewritten by a later epoch is loaded again."""
    handle = slimconv.load_checkpoint(path)
    return _from_checkpoint(handle, f"file:{path}:{modified_ns}:{device}", label, device,
                            ModelSource("checkpoint", path=path))


class TorchvisionPreprocess:
    """PIL image -> ``1 x 3 x H x W`` with the weights' own transforms (resize, crop, normalise)."""

    def __init__(self, weights: torchvision.models.WeightsEnum) -> None:
        self._transforms = weights.transforms()

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self._transforms(convert_mode(image, 3)).unsqueeze(0)


def torchvision_weights(name: str) -> torchvision.models.WeightsEnum:
    """The default pretrained weights of torchvision model ``name``."""
    import torchvision.models

    return torchvision.models.get_model_weights(name).DEFAULT


def _torchvision_model(name: str, weights: str | Path | dict[str, torch.Tensor], key: str, device: str,
                       source: str = "") -> LoadedModel:
    """``weights``: torchvision's name (``"DEFAULT"``) or a state dict already read from ``source``."""
    enum = torchvision_weights(name)
    if isinstance(weights, dict):
        model = slimconv.create_model(name)
        load_state_dict_strictly(model, weights, source)
    else:
        model = slimconv.create_model(name, weights=weights)
    crop = int(enum.transforms().crop_size[0])
    source_of = ModelSource("torchvision-file", name, path=source) if isinstance(weights, dict) else \
        ModelSource("torchvision", name)
    return LoadedModel(key=key, label=name, model=model.to(device).eval(), preprocess=TorchvisionPreprocess(enum),
                       classes=tuple(enum.meta["categories"]), input_size=(3, crop, crop), device=device,
                       source=source_of)


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Building the model ...")
def load_torchvision(name: str, device: str) -> LoadedModel:
    """Torchvision model ``name`` with its default weights, which must be in torch's cache already
    (see :func:`lab.weights_download.ensure_torchvision_weights`)."""
    return _torchvision_model(name, "DEFAULT", f"torchvision:{name}:{device}", device)


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Building the model ...")
def load_torchvision_random(name: str, device: str) -> LoadedModel:
    """Torchvision model ``name`` with torchvision's random initialisation (seed 0): structure only, offline."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = slimconv.create_model(name)
    enum = torchvision_weights(name)
    crop = int(enum.transforms().crop_size[0])
    return LoadedModel(key=f"torchvision-random:{name}:{device}", label=f"{name} (random weights)",
                       model=model.to(device).eval(), preprocess=TorchvisionPreprocess(enum),
                       classes=tuple(enum.meta["categories"]), input_size=(3, crop, crop), device=device,
                       source=ModelSource("torchvision-random", name))


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Loading the weights file ...")
def load_torchvision_file(name: str, digest: str, file_name: str, _data: bytes, device: str) -> LoadedModel:
    """Torchvision model ``name`` with an uploaded state dict of its default weights (offline use).

    The upload is untrusted: read from memory under its own name (no server path in any message), bounded
    and checked (zip bomb, NaN, stride tricks: ``slimconv.weight_files``), and compared with the architecture
    on the meta device before the model is built."""
    check_size(len(_data), file_name, slimconv.WeightsUnavailableError)
    with _UPLOAD_SLOT:
        state_dict = read_state_dict_bytes(_data, file_name)
        with torch.device("meta"):
            expected = slimconv.create_model(name).state_dict()
        problems = state_dict_mismatches(expected, state_dict)
        if problems:
            raise slimconv.WeightsUnavailableError(mismatch_message(name, file_name, problems))
        return _torchvision_model(name, state_dict, f"torchvision-file:{name}:{digest}:{device}", device, file_name)


@st.cache_resource(max_entries=MAX_CACHED_MODELS, show_spinner="Converting the model ...")
def load_converted(_base: LoadedModel, base_key: str, op: str, policy: str | None) -> LoadedModel:
    """``_base`` with the convolutions that ``policy`` selects (``None``: the paper's placement) replaced by
    operator ``op``, on a copy (``_base`` is untouched). New layers are drawn from seed
    :data:`~analysis.notebooks.source.CONVERSION_SEED`: the same model on every load, and in the notebooks."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CONVERSION_SEED)
        model = slimconv.convert(_base.model, op, policy=policy).eval()
    return LoadedModel(key=f"{base_key}+{op}:{policy}", label=f"{_base.label} -> {op}", model=model,
                       preprocess=_base.preprocess, classes=_base.classes, input_size=_base.input_size,
                       device=_base.device, meta=None,
                       source=None if _base.source is None else _base.source.converted(op, policy))


def available_devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
