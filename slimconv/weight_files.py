"""Reading weight files safely: nothing in a file is ever executed, and its cost is bounded before it is paid.

Before ``torch.load`` sees a file, the zip archive's declared (uncompressed) sizes are checked against
:data:`MAX_FILE_BYTES` (a zip bomb is refused before it inflates); files in the pre-1.6 torch format
(plain pickles, which declare storage sizes that are allocated before they are read) are refused. After
loading, every tensor must be backed by its own bytes (no stride-0 views that claim a huge tensor on one
value) and the total is bounded again; NaN or infinite weights are refused with the names of the tensors.
"""

from __future__ import annotations

import io
import json
import pickletools
import struct
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from .errors import WeightsUnavailableError

#: The largest weight file read (the app's upload limit too): the torchvision weights one may upload fit.
MAX_FILE_BYTES = 600 * 1024 * 1024
#: The most tensors in one file, and the longest tensor name.
MAX_TENSORS = 100_000
MAX_NAME_CHARS = 1_000
#: A compressed zip entry may inflate at most this much (torch.save never compresses; a bomb does).
MAX_ZIP_RATIO = 20
_ZIP_MAGIC = b"PK\x03\x04"
_CODE_OPCODES = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "REDUCE", "BUILD"})

ErrorType = Callable[[str], Exception]


def check_size(size: int, label: str, error: ErrorType = WeightsUnavailableError) -> None:
    """Refuse a file over :data:`MAX_FILE_BYTES` before reading it."""
    if size > MAX_FILE_BYTES:
        raise error(f"{label} is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,} bytes; it was not read")


def check_torch_zip(data: bytes, label: str, error: ErrorType = WeightsUnavailableError) -> None:
    """Refuse a ``torch.save`` zip whose declared contents exceed the limits (a zip bomb), before inflating it.

    An unreadable zip passes: ``torch.load`` then says what is wrong with it."""
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except Exception:  # corrupt: diagnosed by the load that follows
        return
    if len(entries) > MAX_TENSORS + 16:
        raise error(f"{label} is a zip of {len(entries):,} entries, over the limit of {MAX_TENSORS:,} tensors")
    declared = sum(entry.file_size for entry in entries)
    if declared > MAX_FILE_BYTES:
        raise error(f"{label} declares {declared:,} bytes once unpacked, over the limit of {MAX_FILE_BYTES:,} "
                    "bytes (a zip bomb?); it was not unpacked")
    for entry in entries:
        if entry.compress_type != zipfile.ZIP_STORED and entry.file_size > MAX_ZIP_RATIO * entry.compress_size + 4096:
            raise error(f"{label} holds an entry that inflates {entry.file_size:,} bytes from "
                        f"{entry.compress_size:,} (a zip bomb?); torch.save never compresses, so it was not unpacked")


def runs_code(data: bytes) -> bool:
    """Whether a plain pickle imports or calls anything (read opcode by opcode, nothing executed)."""
    try:
        for count, (opcode, _, _) in enumerate(pickletools.genops(io.BytesIO(data))):
            if opcode.name in _CODE_OPCODES:
                return True
            if count > 1_000_000:
                return False
    except Exception:  # not a pickle, or a damaged one
        return False
    return False


def safe_torch_load(data: bytes, label: str, error: ErrorType = WeightsUnavailableError) -> object:
    """``torch.load(weights_only=True)`` of a zip-format file whose declared sizes passed :func:`check_torch_zip`.

    A plain pickle (or a pre-1.6 torch file) is refused unread; one that would import or call Python objects
    is named as such. Any other failure raises ``error`` with torch's first sentence."""
    if not data.startswith(_ZIP_MAGIC):
        if runs_code(data):
            raise error(f"{label} contains Python objects that a safe load refuses (loading them could run code); "
                        "nothing in it was executed. Use checkpoints written by slimconv.save_checkpoint or a state "
                        "dict of tensors")
        raise error(f"{label} is not a zip-format torch file (torch.save since PyTorch 1.6) nor safetensors; it was "
                    "not read. Save it again with torch.save in a current PyTorch, or as .safetensors")
    check_torch_zip(data, label, error)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about pickle protocols of foreign files
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def safetensors_header_length(data: bytes) -> int | None:
    """The JSON header's length of a safetensors file, or ``None`` when ``data`` does not start like one."""
    if len(data) < 10:
        return None
    (length,) = struct.unpack("<Q", data[:8])
    return length if 2 <= length <= len(data) - 8 and data[8:9] == b"{" else None


def safetensors_tensors(data: bytes, label: str, error: ErrorType = WeightsUnavailableError) -> dict[str, Tensor]:
    """The tensors of a safetensors file, after its size and tensor count passed the limits."""
    from safetensors.torch import load as load_safetensors

    check_size(len(data), label, error)
    length = safetensors_header_length(data)
    if length is None:
        raise error(f"{label} is not a safetensors file (its header is missing); copy it again")
    if length > 16 * 1024 * 1024:
        raise error(f"{label} has a {length:,}-byte header, over the limit of 16 MiB; it was not read")
    try:
        header = json.loads(data[8 : 8 + length])
    except (ValueError, RecursionError) as reason:
        raise error(f"{label} is a corrupt safetensors file (its header is not JSON: {str(reason)[:80]})") from None
    if not isinstance(header, dict) or len(header) > MAX_TENSORS + 1:
        raise error(f"{label} has a safetensors header that is not a table of at most {MAX_TENSORS:,} tensors")
    try:
        return load_safetensors(data)
    except Exception as reason:  # safetensors raises its own error types for corrupt files
        raise error(f"{label} is a truncated or corrupt safetensors file ({str(reason)[:160]}); "
                    "copy it again") from None


def check_tensors(state_dict: Mapping[object, object], label: str, error: ErrorType = WeightsUnavailableError) -> None:
    """Every entry a named tensor backed by its own bytes, the total within :data:`MAX_FILE_BYTES`, every
    floating-point value finite; ``error`` naming the first offenders otherwise."""
    if len(state_dict) > MAX_TENSORS:
        raise error(f"{label} holds {len(state_dict):,} tensors, over the limit of {MAX_TENSORS:,}")
    total = 0
    for name, tensor in state_dict.items():
        if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not isinstance(tensor, Tensor):
            raise error(f"{label} has no state dict (a mapping of names to tensors)")
        size = tensor.numel() * tensor.element_size()
        if size > tensor.untyped_storage().nbytes():
            raise error(f"{label}: tensor {name[:80]!r} claims {size:,} bytes over a storage of "
                        f"{tensor.untyped_storage().nbytes():,} (a stride trick); it was refused")
        total += size
    if total > MAX_FILE_BYTES:
        raise error(f"{label} holds {total:,} bytes of tensors, over the limit of {MAX_FILE_BYTES:,} bytes")
    bad = [name for name, tensor in state_dict.items()
           if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all())]
    if bad:
        raise error(f"{label} holds NaN or infinite weights in {len(bad)} tensor(s) ({', '.join(bad[:3])}"
                    f"{', ...' if len(bad) > 3 else ''}): the model it came from diverged or the file was damaged; "
                    "it was not loaded. Use the last checkpoint with finite weights")


def read_state_dict_bytes(data: bytes, label: str) -> dict[str, Tensor]:
    """A state dict from the bytes of a ``.safetensors`` or ``torch.save`` file (``label`` names it in
    messages), checked as the module docstring says; ``WeightsUnavailableError`` saying what is wrong."""
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    check_size(len(data), label)
    if not data.startswith(_ZIP_MAGIC) and safetensors_header_length(data) is not None:
        state_dict: dict[str, Tensor] = safetensors_tensors(data, label)
    else:
        try:
            loaded = safe_torch_load(data, label)
        except WeightsUnavailableError:
            raise
        except Exception as reason:  # any failure to parse untrusted bytes is a problem of the file
            first_line = (str(reason).strip().splitlines() or [type(reason).__name__])[0][:160]
            raise WeightsUnavailableError(
                f"{label} is not a weights file that can be loaded safely ({first_line}); "
                "save it with torch.save(model.state_dict(), path) or as .safetensors"
            ) from None
        state_dict = _unwrap_state_dict(loaded, label)
    check_tensors(state_dict, label)
    return state_dict


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Load a state dict from ``.safetensors`` or a ``torch.save`` file with ``weights_only=True``.

    A checkpoint that wraps the weights (``{"state_dict": ...}`` or ``{"model": ...}``) is unwrapped.
    Raises ``WeightsUnavailableError`` saying what is wrong with the file.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file {str(path)!r} does not exist")
    check_size(path.stat().st_size, path.name)
    return read_state_dict_bytes(path.read_bytes(), path.name)


def _unwrap_state_dict(loaded: object, name: str) -> dict[str, Tensor]:
    for key in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise WeightsUnavailableError(f"{name} does not hold a state dict (a mapping of names to tensors)")
    return dict(loaded)


def state_dict_mismatches(expected: Mapping[str, Tensor], state_dict: Mapping[str, Tensor]) -> list[str]:
    """What keeps ``state_dict`` from loading strictly where ``expected`` (a model's state dict, e.g. one
    built on the meta device) is needed: the first missing and unexpected keys and shape mismatches."""
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(expected[k].shape)}"
        for k in expected
        if k in state_dict and state_dict[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:3]}")
    if unexpected:
        problems.append(f"unexpected keys {[k[:80] for k in unexpected[:3]]}")
    if wrong_shape:
        problems.append(f"shape mismatches {wrong_shape[:3]}")
    return problems


def mismatch_message(architecture: str, source: str, problems: list[str]) -> str:
    return (f"the weights in {source} do not fit {architecture}: " + "; ".join(problems)
            + " — is it a checkpoint of another architecture or number of classes?")


def load_state_dict_strictly(model: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Load ``state_dict`` into ``model``, naming the first mismatched keys and shapes on failure."""
    problems = state_dict_mismatches(model.state_dict(), state_dict)
    if problems:
        raise WeightsUnavailableError(mismatch_message(type(model).__name__, source, problems))
    model.load_state_dict(state_dict)
