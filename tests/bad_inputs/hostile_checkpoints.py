"""Hostile checkpoints for ``slimconv.load_checkpoint``: files made to freeze, exhaust or steer the loader.

Each is the valid resnet20 checkpoint of :mod:`.checkpoints` with one thing changed, as an attacker would:
metadata that expands when serialised, options naming files or downloads, a huge input size or model,
a zip bomb, metrics nested 100,000 deep, NaN weights, a tensor that is a stride-0 view.
"""

from __future__ import annotations

import functools
import io
import json
import pickle
import struct
import sys
import types
import zipfile
from collections.abc import Callable

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from .case import Case
from .checkpoints import exported_safetensors, rewritten, valid_checkpoint

NESTED_DEPTH = 100_000
#: Class names that markdown, Streamlit's directives and mathtext would format (or fail on: an odd ``$``).
TRICKY_CLASSES = ["$x^2$", "**bold**", "<b>html</b>", "[link](http://example.com)", ":red[red]", "a_b_c", "# h",
                  "`code`", "\\frac{", "odd $"]
BOMB_BYTES = 64 * 1024 * 1024


def laughs(levels: int = 5, width: int = 200) -> list:
    """``width`` references to the same list, ``levels`` deep: a few hundred bytes pickled, ``width ** levels``
    nodes for anything that walks it as a tree (``json.dumps``, ``repr``, ``copy.deepcopy``)."""
    node: list = []
    for _ in range(levels):
        node = [node] * width
    return node


def _nested(depth: int) -> dict:
    top: dict = {}
    current = top
    for _ in range(depth):
        current["a"] = {}
        current = current["a"]
    return top


@functools.cache
def deeply_nested_metrics() -> bytes:
    """The checkpoint with ``metrics`` nested :data:`NESTED_DEPTH` dicts deep, pickled by the pure-Python
    pickler (Python 3.11 frames do not use the C stack, so a raised recursion limit is safe for it)."""
    payload = torch.load(io.BytesIO(valid_checkpoint()), weights_only=True)
    payload["meta"]["metrics"] = _nested(NESTED_DEPTH)
    buffer = io.BytesIO()
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(NESTED_DEPTH * 4)
    try:
        torch.save(payload, buffer, pickle_module=types.SimpleNamespace(Pickler=pickle._Pickler, __name__="pickle"))
    finally:
        sys.setrecursionlimit(limit)
    return buffer.getvalue()


def zip_bomb() -> bytes:
    """The checkpoint's zip with every entry deflated and an extra 64 MiB entry of zeros (64 KiB packed)."""
    source = zipfile.ZipFile(io.BytesIO(valid_checkpoint()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bomb:
        for entry in source.infolist():
            bomb.writestr(entry.filename, source.read(entry.filename))
        prefix = source.namelist()[0].split("/")[0]
        bomb.writestr(f"{prefix}/data/9999", bytes(BOMB_BYTES))
    return buffer.getvalue()


def _stride_trick(payload: dict) -> None:
    payload["state_dict"]["fc.weight"] = torch.zeros(1).expand(10, 64)


def _poison(payload: dict) -> None:
    payload["state_dict"]["fc.weight"][0, 0] = float("nan")


def _with_meta(**changes: object) -> Callable[[], bytes]:
    return rewritten(lambda payload: payload["meta"].update(changes))


def safetensors_with_meta(change: Callable[[dict], object], poison: bool = False) -> Callable[[], bytes]:
    """A builder of the safetensors export with ``change`` applied to its metadata (and a NaN weight)."""
    def build() -> bytes:
        data = exported_safetensors()
        (length,) = struct.unpack("<Q", data[:8])
        metadata = json.loads(data[8 : 8 + length])["__metadata__"]
        tensors = load_safetensors(data)
        meta = json.loads(metadata["meta"])
        replaced = change(meta)
        metadata["meta"] = replaced if isinstance(replaced, str) else json.dumps(meta)
        if poison:
            tensors["fc.bias"][3] = float("inf")
        return save_safetensors(tensors, metadata=metadata)
    return build


HOSTILE_CHECKPOINT_CASES: tuple[Case, ...] = (
    Case("laughs.pt", "metadata with shared references: 5 levels of 200, 3 x 10^11 nodes as a tree (billion laughs)",
         rewritten(lambda p: p["meta"]["train_config"].update(notes=laughs())),
         r"more than 20,000 values \(shared references count once per use\)"),
    Case("weights-path.pt", "operator options naming a server file (options.weights = '/etc/passwd')",
         _with_meta(op="spconv", policy="except-stem", options={"weights": "/etc/passwd"}),
         r"'weights' is not an option of operator 'spconv' .*cannot name files, URLs or downloads"),
    Case("weights-missing.pt", "the same with a path that does not exist: the same message",
         _with_meta(op="spconv", policy="except-stem", options={"weights": "/no/such/file.pth"}),
         r"'weights' is not an option of operator 'spconv' .*cannot name files, URLs or downloads"),
    Case("weights-default.pt", "a dense model whose options ask for a download (options.weights = 'DEFAULT')",
         _with_meta(options={"weights": "DEFAULT"}), r"a dense model \(op None\) takes no options"),
    Case("option-type.pt", "an operator option of the wrong type (alpha = a path string)",
         _with_meta(op="spconv", policy="except-stem", options={"alpha": "/etc/passwd"}),
         r"option 'alpha' of operator 'spconv' must be int or float"),
    Case("model-path.pt", "a model name that is a path", _with_meta(model="/etc/passwd"),
         r"model '/etc/passwd' is not in slimconv's registry"),
    Case("policy-code.pt", "a policy naming Python code", _with_meta(policy="os.system"),
         r"policy must be None or one of all, 3x3, except-stem, projection-1x1"),
    Case("extra-key.pt", "an unknown metadata key", _with_meta(download_url="http://example.com/x.pth"),
         r"unknown metadata key\(s\) 'download_url'"),
    Case("input-2500.pt", "input size 2500x2500 (resize = crop = 2500)", _with_meta(resize=2500, crop=2500),
         r"resize must be an integer from 1 to 2,048"),
    Case("input-pad.pt", "input size 1028x1028 by padding (crop 28, pad 500)", _with_meta(pad=500),
         r"model input would be 1028x1028 pixels .*over the limit of 512x512"),
    Case("vit_h_14.pt", "a 1 MB file whose metadata names vit_h_14 (632 M parameters)",
         _with_meta(model="vit_h_14"), r"do not fit vit_h_14: missing keys .*found before building the model"),
    Case("many-classes.pt", "100,000 classes named in the metadata",
         _with_meta(num_classes=100_000, classes=[f"class {i}" for i in range(100_000)]),
         r"more than 20,000 values"),
    Case("long-class.pt", "a class name of 100,000 characters",
         _with_meta(classes=["x" * 100_000] + [f"class {i}" for i in range(1, 10)]), r"larger than 64 KiB"),
    Case("nan-metric.pt", "a NaN metric", _with_meta(metrics={"test_accuracy": float("nan")}),
         r"metric 'test_accuracy' must be a finite number, got nan"),
    Case("nested.pt", f"metrics nested {NESTED_DEPTH:,} dicts deep", deeply_nested_metrics,
         r"nested more than 8 levels deep"),
    Case("bomb.pt", "a zip bomb: an extra entry inflating 64 MiB from 64 KiB", zip_bomb,
         r"inflates 67,108,864 bytes from .*\(a zip bomb\?\)"),
    Case("nan.pt", "a NaN weight", rewritten(_poison), r"NaN or infinite weights in 1 tensor\(s\) \(fc\.weight\)"),
    Case("stride.pt", "fc.weight as a stride-0 view of one value (10 x 64 claimed)", rewritten(_stride_trick),
         r"tensor 'fc\.weight' claims 2,560 bytes over a storage of 4 \(a stride trick\)"),
    Case("legacy.pt", "a plain pickle of a dict (no code, not torch's zip format)",
         lambda: pickle.dumps({"format": "slimconv-checkpoint"}, protocol=2),
         r"not a PyTorch or safetensors checkpoint \(torch\.save's zip format\); it was not read"),
    Case("big-meta.safetensors", "a safetensors export whose metadata string is 100 KiB",
         safetensors_with_meta(lambda meta: meta.update(dataset="x" * 100_000)), r"larger than 64 KiB"),
    Case("deep-meta.safetensors", "a safetensors export whose metadata JSON is nested 20,000 lists deep",
         safetensors_with_meta(lambda meta: "[" * 20_000 + "]" * 20_000), r"nested too deep"),
    Case("nan.safetensors", "a safetensors export with an infinite bias", safetensors_with_meta(lambda m: None, True),
         r"NaN or infinite weights in 1 tensor\(s\) \(fc\.bias\)"),
    Case("$x^2$ [a](b) **c**.pt", "a valid checkpoint whose file name and class names hold mathtext and markdown",
         rewritten(lambda p: p["meta"].update(classes=TRICKY_CLASSES)),
         r"^loaded resnet20, 10 classes$"),
)
