"""Operator specs on the command line: ``"spconv:alpha=0.25,gwc_groups=2"``, shared by the CLIs."""

from __future__ import annotations

import argparse
import ast
from typing import Any


def parse_op(text: str) -> tuple[str, dict[str, Any]]:
    """``"spconv:alpha=0.25,gwc_groups=2"`` -> ``("spconv", {"alpha": 0.25, "gwc_groups": 2})``."""
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"option {item!r} of {text!r} must look like key=value")
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value  # a bare word such as variant=lowrank
    return name, options
