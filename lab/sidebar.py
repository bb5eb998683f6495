"""The shared sidebar: model (zoo, torchvision, checkpoint file, trained here, optional conversion),
images (samples, uploads, camera) and device. Its choice goes to session state (see :mod:`lab.selection`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

import slimconv

from .bounds import MAX_IMAGES
from .diagnostics import render_diagnostics
from .errors import user_message
from .images import IMAGE_TYPES, ImageItem, decode_image, default_sample_names, load_sample, sample_names
from .models import (
    LoadedModel,
    available_devices,
    bundled_names,
    load_bundled,
    load_checkpoint_file,
    load_converted,
    load_torchvision,
    load_torchvision_file,
    load_torchvision_random,
    load_uploaded_checkpoint,
    pretrained_folder,
    torchvision_weights,
)
from .selection import set_current, trained_checkpoints
from .text import literal
from .weights_download import cached_weights_path, ensure_torchvision_weights

ZOO, TORCHVISION, CHECKPOINT, TRAINED = "Bundled zoo", "Torchvision", "Checkpoint file", "Trained here"
SAMPLES, UPLOAD, CAMERA = "Samples", "Upload", "Camera"
NO_CONVERSION = "(keep as trained)"
PAPER_POLICY = "(as in the paper)"
DEFAULT_TORCHVISION = "resnet18"
CHECKPOINT_TYPES = ["pt", "pth", "safetensors"]
PRETRAINED_WEIGHTS, WEIGHTS_FILE, RANDOM_WEIGHTS = ("pretrained (download)", "weights file (offline)",
                                                    "random weights (structure only)")
RANDOM_WEIGHTS_NOTE = ("Random weights show the architecture only: layer shapes, parameters, MACs, and the redundancy "
                       "of filters at initialisation, which is not the redundancy a trained network learns. Its "
                       "predictions are meaningless.")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _attempt(doing: str, action: Callable[[], LoadedModel]) -> LoadedModel | None:
    """Run ``action``; a user error is shown in the sidebar and gives ``None``."""
    try:
        return action()
    except Exception as error:
        message = user_message(doing, error)
        if message is None:
            raise
        st.error(literal(message))
        return None


def _zoo_model(device: str, prefix: str = "") -> LoadedModel | None:
    names = bundled_names()
    if not names:
        where = pretrained_folder() or "slimconv/models/pretrained/"
        st.warning(f"No bundled checkpoint found in {where}: the zoo is not installed. Choose a torchvision model "
                   "or upload a checkpoint file instead.")
        return None
    # a second picker (Compare models) opens on the last checkpoint: the first is the sidebar's default
    name = st.selectbox("Checkpoint", names, index=len(names) - 1 if prefix else 0, key=f"{prefix}zoo_name")
    return _attempt("load the checkpoint", lambda: load_bundled(name, device))


def _torchvision_model(device: str, prefix: str = "") -> LoadedModel | None:
    names = slimconv.list_models(include_torchvision=True)
    names = [n for n in names if n not in slimconv.list_models(include_torchvision=False)]
    name = st.selectbox("Architecture", names, index=names.index(DEFAULT_TORCHVISION), key=f"{prefix}torchvision_name")
    choice = st.radio("Weights", [PRETRAINED_WEIGHTS, WEIGHTS_FILE, RANDOM_WEIGHTS], key=f"{prefix}torchvision_source")
    if choice == RANDOM_WEIGHTS:
        st.caption(RANDOM_WEIGHTS_NOTE)
        return _attempt("build the model", lambda: load_torchvision_random(name, device))
    weights = torchvision_weights(name)
    if choice == WEIGHTS_FILE:
        upload = st.file_uploader(f"Weights file of {name} ({Path(weights.url).name})", type=CHECKPOINT_TYPES,
                                  key=f"{prefix}torchvision_weights")
        if upload is None:
            return None
        data = upload.getvalue()
        return _attempt("load the weights file", lambda: load_torchvision_file(
            name, _digest(data), Path(upload.name).name, data, device))
    if not cached_weights_path(weights).is_file():
        st.caption(f"{weights} is not downloaded yet ({Path(weights.url).name}).")
        if not st.button("Download the weights", key=f"{prefix}torchvision_download"):
            return None
        bar = st.progress(0.0, text="Downloading ...")
        try:
            ensure_torchvision_weights(weights, lambda done: bar.progress(done, text=f"Downloading ... {done:.0%}"))
        except slimconv.WeightsUnavailableError as error:
            bar.empty()
            st.error(str(error))
            return None
        bar.empty()
    return _attempt("build the model", lambda: load_torchvision(name, device))


def _checkpoint_model(device: str, prefix: str = "") -> LoadedModel | None:
    upload = st.file_uploader("slimconv checkpoint", type=CHECKPOINT_TYPES, key=f"{prefix}checkpoint_upload")
    if upload is None:
        st.caption("Upload a .pt, .pth or .safetensors file written by slimconv.")
        return None
    data = upload.getvalue()
    return _attempt("load the checkpoint", lambda: load_uploaded_checkpoint(upload.name, _digest(data), data, device))


def _trained_model(device: str, prefix: str = "") -> LoadedModel | None:
    runs = trained_checkpoints()
    label = st.selectbox("Run", list(runs), key=f"{prefix}trained_name")
    path = runs[label]
    return _attempt("load the trained model",
                    lambda: load_checkpoint_file(path, label, Path(path).stat().st_mtime_ns, device))


def model_picker(device: str, prefix: str = "") -> LoadedModel | None:
    """Source, model and optional conversion; ``prefix`` keeps a second picker's widgets apart (Compare models)."""
    sources = [ZOO, TORCHVISION, CHECKPOINT] + ([TRAINED] if trained_checkpoints() else [])
    source = st.radio("Model", sources, key=f"{prefix}model_source", horizontal=True)
    pickers = {ZOO: _zoo_model, TORCHVISION: _torchvision_model, CHECKPOINT: _checkpoint_model, TRAINED: _trained_model}
    model = pickers[source](device, prefix)
    if model is None:
        return None
    op = st.selectbox("Convert to operator", [NO_CONVERSION, *slimconv.list_ops()], key=f"{prefix}convert_op",
                      help="Replace the convolutions by an operator on the fly (new layers start untrained "
                           "unless the operator inherits the dense weights).")
    if op != NO_CONVERSION:
        # a placement that selects no convolution of this model would convert nothing: not offered
        policies = [policy for policy in slimconv.POLICIES if slimconv.select_convs(model.model, policy)]
        policy = st.selectbox("Layers to convert", [PAPER_POLICY, *policies], key=f"{prefix}convert_policy",
                              help="The placements that select at least one convolution of this model.")
        base = model
        converted = _attempt(f"convert the model to {op}", lambda: load_converted(
            base, base.key, op, None if policy == PAPER_POLICY else policy))
        if converted is None:  # not a dead end: the pages go on with the model as loaded
            st.caption("The pages show the model as loaded, not converted.")
            return base
        model = converted
    return model


def _first_uploads(uploads: list[UploadedFile]) -> list[UploadedFile]:
    """The first :data:`MAX_IMAGES` uploads, with a warning when there are more (an uploader has no limit)."""
    if len(uploads) > MAX_IMAGES:
        st.warning(f"Using the first {MAX_IMAGES} of {len(uploads)} images: one analysis runs on at most "
                   f"{MAX_IMAGES}.")
    return uploads[:MAX_IMAGES]


def _image_picker() -> list[ImageItem]:
    source = st.radio("Images", [SAMPLES, UPLOAD, CAMERA], key="image_source", horizontal=True)
    try:
        if source == SAMPLES:
            names = st.multiselect("Samples", sample_names(), default=default_sample_names(), key="sample_names",
                                   max_selections=MAX_IMAGES)  # Streamlit refuses more, in the browser and here
            return [load_sample(name) for name in names]
        if source == UPLOAD:
            uploads = st.file_uploader("Images", type=IMAGE_TYPES, accept_multiple_files=True, key="image_uploads")
            return _decode_each([(u.name, u.getvalue()) for u in _first_uploads(uploads or [])])
        photo = st.camera_input("Take a picture", key="camera_image")
        return [] if photo is None else _decode_each([("camera.jpg", photo.getvalue())])
    except ValueError as error:
        st.error(literal(error))
        return []


def _decode_each(files: list[tuple[str, bytes]]) -> list[ImageItem]:
    """The files that decode; one error per file that does not (a bad file does not drop the good ones),
    and a caption for what loading changed (resized, first frame, transparency flattened, ...)."""
    items = []
    for name, data in files:
        try:
            item = decode_image(name, data)
        except ValueError as error:
            st.error(literal(error))
            continue
        notes = item.image.info.get("load_notes", ())
        if notes:
            st.caption(literal(f"{name}: {'; '.join(notes)}"))
        items.append(item)
    return items


def render_sidebar() -> None:
    """Draw the sidebar and store its choice for the pages."""
    with st.sidebar:
        device = st.selectbox("Device", available_devices(), key="device")
        model = model_picker(device)
        if model is not None:
            st.caption(f"**{literal(model.label)}** · input {'x'.join(map(str, model.input_size))} · {device}")
            render_diagnostics(model)
        st.divider()
        images = _image_picker()
        if images:
            st.image([item.image for item in images], width=56)
    set_current(model, images)
