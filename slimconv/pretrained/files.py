"""The checkpoint file format: saving, safe reading with diagnoses, and export to safetensors.

A checkpoint is ``torch.save`` of a dict of plain values, loadable with ``torch.load(weights_only=True)``::

    {"format": "slimconv-checkpoint", "format_version": 1,
     "state_dict": {name: tensor}, "meta": CheckpointMeta.to_dict(),
     "training": {...} or None}        # optimizer, scheduler, RNG states: only in a run's resumable file

The safetensors export holds the state dict, with ``format``, ``format_version`` and ``meta`` (a JSON
string) in the header metadata. Reading never executes anything from the file.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import Tensor, nn

from .._validate import file_path, instance_of
from ..errors import CheckpointError
from ..weight_files import (
    check_size,
    check_tensors,
    runs_code,
    safe_torch_load,
    safetensors_header_length,
    safetensors_tensors,
)
from .atomic import write_atomically
from .bounded import MAX_META_BYTES, short
from .meta import CheckpointMeta

CHECKPOINT_FORMAT = "slimconv-checkpoint"
FORMAT_VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"

CheckpointSource = str | Path | bytes | BinaryIO


@dataclass
class CheckpointContents:
    """What a checkpoint file holds: weights, metadata and (for a run's resumable file) training state."""

    state_dict: dict[str, Tensor]
    meta: CheckpointMeta
    training: dict[str, Any] | None
    source: str  # the file's name, for messages


_PLAIN_TYPES = (str, int, float, bool, type(None))


def check_plain(value: object, where: str = "checkpoint") -> None:
    """Raise ``ValueError`` unless ``value`` holds only tensors, dicts, lists, tuples, str, numbers,
    bool and None: what ``torch.load(weights_only=True)`` accepts (subclasses such as
    ``torch.__version__``'s ``TorchVersion`` are refused there, so they are refused here)."""
    if isinstance(value, Tensor) or type(value) in _PLAIN_TYPES:
        return
    if type(value) in (list, tuple):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
    elif type(value) is dict:
        for key, item in value.items():
            check_plain(key, f"{where} key {key!r}")
            check_plain(item, f"{where}[{key!r}]")
    else:
        raise ValueError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}; a checkpoint may hold "
                         "only tensors, dicts, lists, tuples, str, int, float, bool and None")


def checkpoint_bytes(state_dict: Mapping[str, Tensor], meta: CheckpointMeta,
                     training: Mapping[str, Any] | None = None) -> bytes:
    """The serialised checkpoint (weights moved to CPU, metadata as plain values); ``ValueError`` if
    anything in it would not load with ``weights_only=True``."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in state_dict.items()},
        "meta": meta.to_dict(),
        "training": None if training is None else dict(training),
    }
    check_plain(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_checkpoint(path: str | Path, model: nn.Module | Mapping[str, Tensor], meta: CheckpointMeta, *,
                    training: Mapping[str, Any] | None = None) -> Path:
    """Write ``model``'s weights (or a state dict) with ``meta`` to ``path`` atomically; return the path.

    ``training`` (optimizer, scheduler, RNG states, ...) makes the file resumable; it must hold only
    tensors, dicts, lists, tuples, str, numbers, bool and None, like everything else in the file.
    """
    path = file_path("path", path)
    instance_of("meta", meta, CheckpointMeta)
    if training is not None and not isinstance(training, Mapping):
        raise ValueError(f"training must be a mapping or None, got {type(training).__name__}")
    return write_atomically(path, checkpoint_bytes(_state_dict_of(model), meta, training))


def _state_dict_of(model: object) -> Mapping[str, Tensor]:
    if isinstance(model, nn.Module):
        return model.state_dict()
    if isinstance(model, Mapping) and all(isinstance(key, str) and isinstance(value, Tensor)
                                          for key, value in model.items()):
        return model
    raise ValueError(f"model must be a torch.nn.Module or a state dict (names to tensors), got {type(model).__name__}")


def _read_source(source: CheckpointSource) -> tuple[bytes, str]:
    if isinstance(source, bytes):
        check_size(len(source), "the checkpoint", CheckpointError)
        return source, "the checkpoint"
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"checkpoint file {str(path)!r} does not exist; check the path")
        check_size(path.stat().st_size, path.name, CheckpointError)
        return path.read_bytes(), path.name
    if not callable(getattr(source, "read", None)):
        raise ValueError(f"expected a path, bytes or a binary file object, got {type(source).__name__}")
    label = Path(str(getattr(source, "name", "the uploaded file"))).name[:200]
    binary = f"{label} was opened in text mode; open it in binary mode (open(path, 'rb')) and pass that"
    if isinstance(source, io.TextIOBase):
        raise ValueError(binary)
    try:
        data = source.getvalue() if callable(getattr(source, "getvalue", None)) else source.read()
    except UnicodeDecodeError:  # a text-mode stream that is not io.TextIOBase (e.g. a codecs reader)
        raise ValueError(binary) from None
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(binary)
    data = bytes(data)
    check_size(len(data), label, CheckpointError)
    return data, label


def _looks_like_text(data: bytes) -> bool:
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _diagnose_torch_failure(data: bytes, label: str, error: Exception) -> CheckpointError:
    message = str(error)
    # torch's first sentence says what failed; the rest is advice to report it as a torch bug
    detail = (message.strip().splitlines() or [type(error).__name__])[0].split(". ")[0][:160]
    if isinstance(error, pickle.UnpicklingError) and "GLOBAL" in message:
        return CheckpointError(
            f"{label} contains Python objects that a safe load refuses (loading them could run code); nothing "
            "in it was executed. Use checkpoints written by slimconv.save_checkpoint or a state dict of tensors"
        )
    return CheckpointError(f"{label} is truncated or corrupt ({detail}); download or copy it again")


def _is_torchscript(data: bytes) -> bool:
    """A ``torch.jit.save`` archive: a zip like ``torch.save``'s, with code and constants beside the weights."""
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except Exception:  # an unreadable zip is diagnosed by the load that follows
        return False
    return any(name.endswith("/constants.pkl") or "/code/" in name for name in names)


def _torch_payload(data: bytes, label: str) -> object:
    if not data.startswith(_ZIP_MAGIC):  # never handed to torch.load: see weight_files.safe_torch_load
        if (data[:1] == b"\x80" or not _looks_like_text(data)) and runs_code(data):  # protocol 2+ pickles
            raise CheckpointError(
                f"{label} contains Python objects that a safe load refuses (loading them could run code); nothing "
                "in it was executed. Use checkpoints written by slimconv.save_checkpoint or a state dict of tensors")
        if _looks_like_text(data):
            start = data[:40].decode("utf-8", errors="replace").strip()
            raise CheckpointError(f"{label} is a text file (it starts with {start!r}), not a checkpoint; "
                                  "choose the .pt or .safetensors file")
        raise CheckpointError(f"{label} is not a PyTorch or safetensors checkpoint (torch.save's zip format); it "
                              "was not read and nothing in it was executed. Choose the .pt or .safetensors file "
                              "that slimconv wrote")
    try:
        return safe_torch_load(data, label, CheckpointError)
    except CheckpointError:
        raise
    except Exception as error:  # any failure to parse untrusted bytes is a problem of the file
        raise _diagnose_torch_failure(data, label, error) from None


def _safetensors_payload(data: bytes, label: str) -> dict[str, Any]:
    tensors = safetensors_tensors(data, label, CheckpointError)
    header = json.loads(data[8 : 8 + safetensors_header_length(data)])  # parsed already by safetensors_tensors
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or metadata.get("format") != CHECKPOINT_FORMAT or "meta" not in metadata:
        raise CheckpointError(f"{label} is a safetensors file without slimconv metadata; it holds weights only. "
                              "Load it with slimconv.create_model(name, weights=path) for a zoo architecture")
    text = metadata["meta"]
    if not isinstance(text, str) or len(text) > MAX_META_BYTES:
        raise CheckpointError(f"{label} was refused: its metadata is larger than {MAX_META_BYTES // 1024} KiB")
    try:
        meta = json.loads(text)
        version = int(metadata.get("format_version", FORMAT_VERSION))
    except RecursionError:
        raise CheckpointError(f"{label} was refused: its metadata is nested too deep") from None
    except ValueError as error:
        raise CheckpointError(f"{label} has unreadable slimconv metadata ({str(error)[:80]}); export it "
                              "again") from None
    return {"format": CHECKPOINT_FORMAT, "format_version": version, "state_dict": tensors, "meta": meta,
            "training": None}


def _check_payload(payload: object, label: str) -> CheckpointContents:
    if not isinstance(payload, Mapping):
        raise CheckpointError(f"{label} holds a {type(payload).__name__}, not a slimconv checkpoint")
    if payload.get("format") != CHECKPOINT_FORMAT:
        if payload and all(isinstance(value, Tensor) for value in payload.values()):
            raise CheckpointError(
                f"{label} is a plain state dict without slimconv metadata (model, input spec, classes). Build the "
                "model with slimconv.create_model(name, weights=path), or save it with slimconv.save_checkpoint"
            )
        raise CheckpointError(f"{label} is not a slimconv checkpoint (no 'format': {CHECKPOINT_FORMAT!r} entry)")
    version = payload.get("format_version")
    if type(version) is not int or version > FORMAT_VERSION:
        raise CheckpointError(f"{label} has checkpoint format version {short(version)}; this slimconv reads up to "
                              f"{FORMAT_VERSION}: upgrade slimconv")
    meta = CheckpointMeta.from_dict(payload.get("meta"), label)  # untrusted: bounded and checked first
    state_dict = payload.get("state_dict")
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(f"{label} has no state dict (a mapping of names to tensors)")
    check_tensors(state_dict, label, CheckpointError)
    training = payload.get("training")
    if training is not None and not isinstance(training, Mapping):
        raise CheckpointError(f"{label} has a malformed training state ({type(training).__name__})")
    return CheckpointContents(dict(state_dict), meta, None if training is None else dict(training), label)


def read_checkpoint(source: CheckpointSource) -> CheckpointContents:
    """Read a checkpoint (``.pt`` or ``.safetensors``) from a path, bytes or binary file object.

    Only tensors and plain values are ever unpickled (``weights_only=True``). Raises
    ``CheckpointError`` saying what is wrong (missing, empty, truncated, text, unsafe, TorchScript, not a
    slimconv checkpoint, metadata missing) and what to do.
    """
    data, label = _read_source(source)
    if not data:
        raise CheckpointError(f"{label} is empty (0 bytes): the download, copy or upload did not finish; "
                              "get the file again")
    if data.startswith(_ZIP_MAGIC) and _is_torchscript(data):  # checked first: no torch loader ever sees it
        raise CheckpointError(f"{label} is a TorchScript program (torch.jit.save), not a slimconv checkpoint; it was "
                              "not loaded and nothing in it ran. Save the weights with slimconv.save_checkpoint")
    if not data.startswith(_ZIP_MAGIC) and safetensors_header_length(data) is not None:
        payload: object = _safetensors_payload(data, label)
    else:
        payload = _torch_payload(data, label)
    return _check_payload(payload, label)


def export_safetensors(path_in: CheckpointSource, path_out: str | Path) -> Path:
    """Write the weights and metadata of checkpoint ``path_in`` to a ``.safetensors`` file (atomically).

    The training state (optimizer, RNG) is left out; the metadata goes into the header as a JSON string.
    """
    from safetensors.torch import save as save_safetensors

    path_out = file_path("path_out", path_out)
    contents = read_checkpoint(path_in)
    tensors = {name: tensor.detach().contiguous().clone() for name, tensor in contents.state_dict.items()}
    metadata = {"format": CHECKPOINT_FORMAT, "format_version": str(FORMAT_VERSION),
                "meta": json.dumps(contents.meta.to_dict())}
    return write_atomically(path_out, save_safetensors(tensors, metadata=metadata))
