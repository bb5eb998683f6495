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
