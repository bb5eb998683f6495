"""Argument checks of every public function, slimconv's and analysis's: each raises ValueError naming
the argument and what is allowed (analysis imports them from here; slimconv never imports analysis)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

T = TypeVar("T")


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def non_negative_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def positive_number(name: str, value: object) -> float:
    """A finite number > 0 (NaN and infinity are refused: a time limit of either never ends)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def finite_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def nn_module(name: str, value: object) -> nn.Module:
    if not isinstance(value, nn.Module):
        raise ValueError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def instance_of(name: str, value: object, kind: type[T]) -> T:
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be of type {kind.__name__}, got {type(value).__name__}")
    return value


def file_path(name: str, value: object) -> Path:
    """A ``str`` or path object (``pathlib.Path``); anything else would fail deep inside ``open``."""
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path (str or pathlib.Path), got {type(value).__name__}")
    return Path(value)


def boolean(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def square(name: str, value: int | Sequence[int]) -> int:
    """Accept ``k`` or ``(k, k)``; operators are defined for square kernels and strides only."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        values = tuple(value)
        if len(values) != 2 or values[0] != values[1]:
            raise ValueError(f"{name} must be an int or a square pair (k, k), got {value!r}")
        value = values[0]
    return positive_int(name, value)


def padding_value(value: int | Sequence[int] | None, kernel_size: int) -> int:
    """``None`` means same-style padding ``kernel_size // 2``."""
    if value is None:
        return kernel_size // 2
    if isinstance(value, Sequence) and not isinstance(value, str):
        values = tuple(value)
        if len(values) != 2 or values[0] != values[1]:
            raise ValueError(f"padding must be None, an int or a square pair, got {value!r}")
        value = values[0]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"padding must be None or an integer >= 0, got {value!r}")
    return value


def same_padding_only(op: str, kernel_size: int, padding: int) -> None:
    """Multi-branch operators align their branches only for odd kernels with padding k // 2."""
    if kernel_size % 2 == 0:
        raise ValueError(f"{op}: kernel_size must be odd, got {kernel_size}")
    if padding != kernel_size // 2:
        raise ValueError(f"{op}: padding must be kernel_size // 2 = {kernel_size // 2} (same-style), got {padding}")


def fraction(name: str, value: float, *, low_open: bool = True, high: float = 1.0) -> float:
    """A float in (0, high] (or [0, high] with ``low_open=False``); NaN and infinity are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    ok = (0 < value <= high) if low_open else (0 <= value <= high)
    if not ok:
        interval = f"(0, {high:g}]" if low_open else f"[0, {high:g}]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def choice(name: str, value: object, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value  # type: ignore[return-value]


def divides(name: str, divisor: int, what: str, value: int) -> None:
    if value % divisor:
        raise ValueError(f"{name}={divisor} must divide {what}={value}")


# Checks of tensors and of the analysis functions' other arguments.


def numeric(name: str, values: torch.Tensor, *, finite: bool = True) -> torch.Tensor:
    """Non-empty, floating point and finite: NaN or infinity would turn every similarity, score and
    fit into NaN without an error. ``finite=False`` leaves the finiteness to the caller, who finds it
    in its own reductions (:func:`finite_reduction`) instead of a pass over the values."""
    if values.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(values.shape)})")
    if not values.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {values.dtype}")
    if finite:
        finite_reduction(name, values)
    return values


def finite_reduction(name: str, reduced: torch.Tensor) -> torch.Tensor:
    """Raise if ``reduced`` holds NaN or infinity. Given float64 sums (or means, norms) of float32 or
    float16 values, this finds any NaN or infinite value of those values: such a value makes its sum
    non-finite, and finite ones cannot overflow a float64 sum."""
    if not bool(torch.isfinite(reduced).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return reduced


def shape_of(value: object) -> object:
    """A tensor's shape, or the type name of what is not a tensor (for messages)."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def feature_maps(name: str, maps: torch.Tensor, *, finite: bool = True) -> torch.Tensor:
    """Accept ``B x C x H x W`` or one image's ``C x H x W``; return ``B x C x H x W``. ``finite``: as
    :func:`numeric`."""
    if not isinstance(maps, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape B x C x H x W, got {type(maps).__name__}")
    if maps.dim() == 3:
        maps = maps.unsqueeze(0)
    if maps.dim() != 4:
        raise ValueError(f"{name} must have shape B x C x H x W or C x H x W, got {tuple(maps.shape)}")
    return numeric(name, maps, finite=finite)


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
