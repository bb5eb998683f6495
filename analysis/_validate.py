"""Argument checks shared by the analysis functions: each raises ValueError saying what is allowed."""

from __future__ import annotations

from collections.abc import Callable

import torch

# The checks that are not about tensors are slimconv's own, so both packages word them alike.
from slimconv.ops._validate import boolean, choice, finite_number, instance_of, nn_module, positive_int

__all__ = ["boolean", "channel_rows", "choice", "conv_weight", "feature_maps", "finite_number", "index", "indices",
           "instance_of", "nn_module", "numeric", "odd_positive_int", "optional_callable", "positive_int",
           "shape_of", "square_matrix", "text", "unit_interval"]


def numeric(name: str, values: torch.Tensor) -> torch.Tensor:
    """Non-empty, floating point and finite: NaN or infinity would turn every similarity, score and
    fit into NaN without an error."""
    if values.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(values.shape)})")
    if not values.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {values.dtype}")
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return values


def shape_of(value: object) -> object:
    """A tensor's shape, or the type name of what is not a tensor (for messages)."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def feature_maps(name: str, maps: torch.Tensor) -> torch.Tensor:
    """Accept ``B x C x H x W`` or one image's ``C x H x W``; return ``B x C x H x W``."""
    if not isinstance(maps, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape B x C x H x W, got {type(maps).__name__}")
    if maps.dim() == 3:
        maps = maps.unsqueeze(0)
    if maps.dim() != 4:
        raise ValueError(f"{name} must have shape B x C x H x W or C x H x W, got {tuple(maps.shape)}")
    return numeric(name, maps)


def channel_rows(name: str, maps: torch.Tensor) -> torch.Tensor:
    """One image's maps ``C x H x W`` or ``C x L``."""
    if not isinstance(maps, torch.Tensor) or maps.dim() not in (2, 3):
        raise ValueError(f"{name} must be one image's maps C x H x W or C x L, got {shape_of(maps)}")
    return numeric(name, maps)


def square_matrix(name: str, matrix: torch.Tensor) -> torch.Tensor:
    if not isinstance(matrix, torch.Tensor) or matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square C x C tensor, got {shape_of(matrix)}")
    return numeric(name, matrix)


def conv_weight(name: str, weight: torch.Tensor) -> torch.Tensor:
    """A convolution weight ``N x C x kh x kw`` (or a linear weight ``N x D``), returned as ``N x D``."""
    if not isinstance(weight, torch.Tensor) or weight.dim() not in (2, 4):
        raise ValueError(f"{name} must be a conv weight N x C x k x k or a matrix N x D, got {shape_of(weight)}")
    return numeric(name, weight.detach()).reshape(weight.shape[0], -1)


def unit_interval(name: str, value: float, *, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    ok = (0 < value <= 1) if open_low else (0 <= value <= 1)
    if not ok:
        raise ValueError(f"{name} must be in {'(0, 1]' if open_low else '[0, 1]'}, got {value!r}")
    return float(value)



def odd_positive_int(name: str, value: object) -> int:
    value = positive_int(name, value)
    if value % 2 == 0:
        raise ValueError(f"{name} must be odd (a centred filter), got {value}")
    return value



def index(name: str, value: object, size: int) -> int:
    """An integer in ``[0, size)`` (a bool or a float is refused, not truncated)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise ValueError(f"{name} must be an integer in [0, {size - 1}], got {value!r}")
    return value




def text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r}")
    return value




def optional_callable(name: str, value: object) -> Callable | None:
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be a callable or None, got {value!r}")
    return value


def indices(name: str, values: object, size: int) -> torch.Tensor:
    """A non-empty 1-D sequence or tensor of integers in ``[0, size)``, as a CPU long tensor."""
    message = f"{name} must be a non-empty 1-D sequence of integers in [0, {size - 1}], got {values!r}"
    try:
        tensor = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(message) from None
    if tensor.dim() != 1 or tensor.numel() == 0 or tensor.is_floating_point() or tensor.is_complex():
        raise ValueError(message)
    if tensor.dtype == torch.bool or bool(((tensor < 0) | (tensor >= size)).any()):
        raise ValueError(message)
    return tensor.detach().cpu().long()
