"""Argument checks shared by the operators and slimconv's public functions: each raises ValueError
naming the argument and what is allowed."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

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
    """A float in (0, high] (or [0, high] with ``low_open=False``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    ok = (0 < value <= high) if low_open else (0 <= value <= high)
    if not ok:
        interval = f"(0, {high}]" if low_open else f"[0, {high}]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def choice(name: str, value: object, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value  # type: ignore[return-value]


def divides(name: str, divisor: int, what: str, value: int) -> None:
    if value % divisor:
        raise ValueError(f"{name}={divisor} must divide {what}={value}")
