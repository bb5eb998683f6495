"""Checkpoint files for ``slimconv.load_checkpoint``: damaged, foreign, hostile, inconsistent."""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import os
import pickle
import struct
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from slimconv.errors import CheckpointError
from slimconv.models import create_model
from slimconv.pretrained import CheckpointMeta, InputSpec, export_safetensors, load_checkpoint
from slimconv.pretrained.files import checkpoint_bytes

from .case import Case, cut

FASHION = InputSpec(1, 28, 28, 2, (0.2860,), (0.3530,))
CLASSES = tuple(f"class {i}" for i in range(10))
FIXED_DATE = "2025-01-01T00:00:00+00:00"  # so that the bytes are the same from run to run


class RunsCommand:
    """Pickles as a call of ``os.system``: what a hostile checkpoint hides (a harmless command here)."""

    def __reduce__(self):
        return (os.system, ("echo this command would have run",))


@functools.cache
def valid_checkpoint() -> bytes:
    """A resnet20 for 1x32x32 inputs and 10 classes, as ``save_checkpoint`` writes it."""
    torch.manual_seed(0)
    model = create_model("resnet20", in_chans=1, num_classes=10)
    meta = CheckpointMeta.for_model(model, model_name="resnet20", op=None, policy=None, options={}, input=FASHION,
                                    classes=CLASSES, dataset="fashion-mnist", metrics={"test_accuracy": 0.5}, macs=1)
    return checkpoint_bytes(model.state_dict(), dataclasses.replace(meta, date=FIXED_DATE))


def _torch_saved(value: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def rewritten(change: Callable[[dict], object]) -> Callable[[], bytes]:
    """A builder of the valid checkpoint with ``change`` applied to its loaded payload."""
    def build() -> bytes:
        payload = torch.load(io.BytesIO(valid_checkpoint()), weights_only=True)
        change(payload)
        return _torch_saved(payload)
    return build


def torchscript(traced: bool) -> bytes:
    """A small network compiled by ``torch.jit.trace`` or ``torch.jit.script`` and saved by ``torch.jit.save``."""
    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, but its files are still about
        compiled = torch.jit.trace(network, torch.zeros(1, 1, 8, 8)) if traced else torch.jit.script(network)
        torch.jit.save(compiled, buffer)
    return buffer.getvalue()


def exported_safetensors() -> bytes:
    """The valid checkpoint exported by ``export_safetensors`` (weights, metadata in the header)."""
    with tempfile.TemporaryDirectory() as folder:
        return export_safetensors(valid_checkpoint(), Path(folder) / "model.safetensors").read_bytes()


def safetensors_with_wrong_shape() -> bytes:
    """The export with ``fc.weight`` (10 x 64) replaced by a 10 x 32 tensor; the metadata kept as it was."""
    data = exported_safetensors()
    (header_length,) = struct.unpack("<Q", data[:8])
    metadata = json.loads(data[8 : 8 + header_length])["__metadata__"]
    tensors = load_safetensors(data)
    tensors["fc.weight"] = torch.zeros(10, 32)
    return save_safetensors(tensors, metadata=metadata)


def weights_only_safetensors() -> bytes:
    return save_safetensors({"w": torch.zeros(2)})


CHECKPOINT_CASES: tuple[Case, ...] = (
    Case("model.pt", "a valid checkpoint (for reference)", valid_checkpoint, r"^loaded resnet20, 10 classes$"),
    Case("model.safetensors", "its safetensors export (for reference)", exported_safetensors,
         r"^loaded resnet20, 10 classes$"),
    Case("empty.pt", "zero bytes", lambda: b"", r"empty \(0 bytes\)"),
    Case("half.pt", "a checkpoint cut in half", cut(valid_checkpoint, 0.5), r"truncated or corrupt"),
    Case("head.pt", "the first 100 bytes of a checkpoint", cut(valid_checkpoint, 100), r"truncated or corrupt"),
    Case("README.pt", "a text file named .pt", lambda: b"hello, this is a README\n",
         r"text file .*'hello, this is a README'"),
    Case("noise.pt", "1 KiB of binary noise", lambda: bytes(range(256)) * 4,
         r"not a PyTorch or safetensors checkpoint"),
    Case("hostile.pt", "a torch.save zip whose pickle calls os.system",
         lambda: _torch_saved({"format": "slimconv-checkpoint", "payload": RunsCommand()}),
         r"Python objects that a safe load refuses .*nothing in it was executed"),
    Case("hostile.pkl", "a plain pickle (protocol 2) that calls os.system",
         lambda: pickle.dumps({"state_dict": RunsCommand()}, protocol=2),
         r"Python objects that a safe load refuses .*nothing in it was executed"),
    Case("scripted.pt", "a TorchScript program (torch.jit.script, torch.jit.save)", lambda: torchscript(False),
         r"is a TorchScript program \(torch\.jit\.save\), not a slimconv checkpoint; it was not loaded"),
    Case("traced.pt", "a TorchScript program (torch.jit.trace, torch.jit.save)", lambda: torchscript(True),
         r"is a TorchScript program"),
    Case("state_dict.pt", "a plain state dict (torch.save(model.state_dict()))",
         lambda: _torch_saved(create_model("resnet20").state_dict()), r"plain state dict without slimconv metadata"),
    Case("weights.safetensors", "a safetensors file without slimconv metadata", weights_only_safetensors,
         r"safetensors file without slimconv metadata"),
    Case("half.safetensors", "a safetensors file missing its last 4 bytes", cut(weights_only_safetensors, -4),
         r"truncated or corrupt safetensors"),
    Case("no-classes.pt", "metadata without 'classes'", rewritten(lambda p: p["meta"].pop("classes")),
         r"misses metadata 'classes'"),
    Case("no-meta.pt", "no metadata at all", rewritten(lambda p: p.pop("meta")), r"no metadata dict"),
    Case("future.pt", "format_version 99", rewritten(lambda p: p.update(format_version=99)), r"upgrade slimconv"),
    Case("bad-meta.pt", "in_chans = 'x' in the metadata", rewritten(lambda p: p["meta"].update(in_chans="x")),
         r"malformed metadata"),
    Case("resnet32.pt", "resnet20 weights, metadata saying resnet32",
         rewritten(lambda p: p["meta"].update(model="resnet32")), r"missing keys \['layers\.0\.3\.conv1\.weight'"),
    Case("unknown.pt", "metadata naming a model slimconv does not have",
         rewritten(lambda p: p["meta"].update(model="no-such-net")), r"not in slimconv's registry"),
    Case("eleven.pt", "10-class weights, metadata saying 11 classes",
         rewritten(lambda p: p["meta"].update(num_classes=11, classes=list("abcdefghijk"))),
         r"shape mismatches \['fc\.weight \(10, 64\) vs \(11, 64\)'"),
    Case("reshaped.safetensors", "a safetensors export with fc.weight rewritten as 10 x 32, metadata kept",
         safetensors_with_wrong_shape, r"shape mismatches \['fc\.weight \(10, 32\) vs \(10, 64\)'\]"),
)


def checkpoint_outcome(case: Case) -> str:
    """What ``load_checkpoint`` makes of the case: the error message, or the model it loaded."""
    try:
        loaded = load_checkpoint(case.upload())
    except CheckpointError as error:
        return f"CheckpointError: {error}"
    return f"loaded {loaded.meta.model}, {len(loaded.classes)} classes"
