"""Argument checks shared by the analysis functions: each raises ValueError saying what is allowed."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def feature_maps(name: str, maps: torch.Tensor) -> torch.Tensor:
    """Accept ``B x C x H x W`` or one image's ``C x H x W``; return ``B x C x H x W``."""
    if not isinstance(maps, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape B x C x H x W, got {type(maps).__name__}")
    if maps.dim() == 3:
        maps = maps.unsqueeze(0)
    if maps.dim() != 4:
        raise ValueError(f"{name} must have shape B x C x H x W or C x H x W, got {tuple(maps.shape)}")
    if maps.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(maps.shape)})")
    if not maps.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {maps.dtype}")
    return maps


def square_matrix(name: str, matrix: torch.Tensor) -> torch.Tensor:
    if not isinstance(matrix, torch.Tensor) or matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1]:
        shape = tuple(matrix.shape) if isinstance(matrix, torch.Tensor) else type(matrix).__name__
        raise ValueError(f"{name} must be a square C x C tensor, got {shape}")
    if matrix.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return matrix


def conv_weight(name: str, weight: torch.Tensor) -> torch.Tensor:
    """A convolution weight ``N x C x kh x kw`` (or a linear weight ``N x D``), returned as ``N x D``."""
    if not isinstance(weight, torch.Tensor) or weight.dim() not in (2, 4):
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"{name} must be a conv weight N x C x k x k or a matrix N x D, got {shape}")
    if weight.shape[0] < 1 or weight[0].numel() < 1:
        raise ValueError(f"{name} is empty (shape {tuple(weight.shape)})")
    return weight.detach().reshape(weight.shape[0], -1)


def unit_interval(name: str, value: float, *, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    ok = (0 < value <= 1) if open_low else (0 <= value <= 1)
    if not ok:
        raise ValueError(f"{name} must be in {'(0, 1]' if open_low else '[0, 1]'}, got {value!r}")
    return float(value)


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def odd_positive_int(name: str, value: object) -> int:
    value = positive_int(name, value)
    if value % 2 == 0:
        raise ValueError(f"{name} must be odd (a centred filter), got {value}")
    return value


def choice(name: str, value: object, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value  # type: ignore[return-value]
