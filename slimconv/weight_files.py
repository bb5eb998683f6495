"""Reading weight files safely: nothing in a file is ever executed."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from .errors import WeightsUnavailableError


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Load a state dict from ``.safetensors`` or a ``torch.save`` file with ``weights_only=True``.

    A checkpoint that wraps the weights (``{"state_dict": ...}`` or ``{"model": ...}``) is unwrapped.
    Raises ``WeightsUnavailableError`` saying what is wrong with the file.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:  # safetensors raises its own error types for corrupt headers
            raise WeightsUnavailableError(f"{path.name} is not a readable safetensors file: {error}") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise WeightsUnavailableError(
            f"{path.name} is not a weights file that can be loaded safely ({first_line}); "
            "save it with torch.save(model.state_dict(), path) or as .safetensors"
        ) from None
    return _unwrap_state_dict(loaded, path.name)


def _unwrap_state_dict(loaded: object, name: str) -> dict[str, Tensor]:
    for key in ("state_dict", "model"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise WeightsUnavailableError(f"{name} does not hold a state dict (a mapping of names to tensors)")
    return dict(loaded)


def load_state_dict_strictly(model: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Load ``state_dict`` into ``model``, naming the first mismatched keys and shapes on failure."""
    expected = model.state_dict()
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
        problems.append(f"unexpected keys {unexpected[:3]}")
    if wrong_shape:
        problems.append(f"shape mismatches {wrong_shape[:3]}")
    if problems:
        raise WeightsUnavailableError(
            f"the weights in {source} do not fit {type(model).__name__}: "
            + "; ".join(problems)
            + " — is it a checkpoint of another architecture or number of classes?"
        )
    model.load_state_dict(state_dict)
