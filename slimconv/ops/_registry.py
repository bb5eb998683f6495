"""One registry of operators: ``list_ops``, ``get_op``, ``create_conv``."""

from __future__ import annotations

from typing import Any, TypeVar

from ._base import SlimConv2d

_OPS: dict[str, type[SlimConv2d]] = {}
_T = TypeVar("_T", bound=type[SlimConv2d])


def register_op(name: str):
    """Class decorator: make an operator available under ``name`` to ``create_conv``/``convert``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"operator name must be a non-empty string, got {name!r}")

    def decorate(cls: _T) -> _T:
        if not (isinstance(cls, type) and issubclass(cls, SlimConv2d)):
            raise ValueError(f"register_op({name!r}) decorates SlimConv2d subclasses, got {cls!r}")
        if name in _OPS:
            raise ValueError(f"operator {name!r} is registered twice")
        cls.op_name = name
        _OPS[name] = cls
        return cls

    return decorate


def list_ops() -> list[str]:
    """Names of every registered operator, sorted."""
    return sorted(_OPS)


def get_op(name: str) -> type[SlimConv2d]:
    """The operator class registered under ``name``."""
    if isinstance(name, str) and name in _OPS:  # an unhashable name would make the lookup a TypeError
        return _OPS[name]
    raise ValueError(f"unknown operator {name!r}; choose one of {', '.join(list_ops())}")


def create_conv(
    op: str,
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    **options: Any,
) -> SlimConv2d:
    """Build operator ``op`` with the ``nn.Conv2d``-like arguments and its own ``options``."""
    return get_op(op)(in_channels, out_channels, kernel_size, stride, **options)
