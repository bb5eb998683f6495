"""Operator specs on the command line: ``"spconv:alpha=0.25,gwc_groups=2"``, shared by the CLIs."""

from __future__ import annotations

import argparse
import ast
from typing import Any


class OpSpecError(argparse.ArgumentTypeError, ValueError):
    """A malformed operator spec. argparse shows an ``ArgumentTypeError``'s own message (a plain
    ``ValueError`` would become "invalid value"), and Python callers catch a ``ValueError``."""


def parse_op(text: str) -> tuple[str, dict[str, Any]]:
    """``"spconv:alpha=0.25,gwc_groups=2"`` -> ``("spconv", {"alpha": 0.25, "gwc_groups": 2})``.

    Option values are Python literals or bare words. Whether the operator exists and takes those
    options is for ``get_op``/``convert`` to say.
    """
    if not isinstance(text, str):
        raise OpSpecError(f"an operator spec must be a string like 'spconv:alpha=0.5', got {text!r}")
    name, _, rest = text.partition(":")
    if not name:
        raise OpSpecError(f"an operator spec starts with the operator's name, like 'spconv:alpha=0.5', got {text!r}")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise OpSpecError(f"option {item!r} of {text!r} must look like key=value")
        if key in options:
            raise OpSpecError(f"option {key!r} is given twice in {text!r}")
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value  # a bare word such as variant=lowrank
    return name, options


def parse_ops(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Several specs separated by spaces or semicolons: ``"spconv:alpha=0.5 ghost"`` -> two pairs."""
    if not isinstance(text, str):
        raise OpSpecError(f"operator specs must be a string like 'spconv:alpha=0.5 ghost', got {text!r}")
    return [parse_op(item) for item in text.replace(";", " ").split()]


def check_op(op: str, options: dict[str, Any], in_channels: int = 64, out_channels: int = 64,
             kernel_size: int = 3) -> None:
    """Build ``op`` with ``options`` on the meta device (no memory, no time): a ``ValueError`` naming the
    operator for an unknown name, an option it does not take or a value out of range."""
    from .ops import get_op  # the specs are parsed without the operators; checking them needs them

    try:
        get_op(op)(in_channels, out_channels, kernel_size, **options, device="meta")
    except TypeError as error:
        raise ValueError(f"{op}: {error}") from None
