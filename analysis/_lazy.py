"""Names a package exports but imports on first use: attribution needs captum and scipy.stats (about 1.5 s
to import on 2 cores), which the app's first page does not use."""

from __future__ import annotations

import importlib
from typing import Any


def lazy_attribute(package: str, where: dict[str, str], name: str) -> Any:
    """``name`` from the submodule ``where[name]`` of ``package`` (a module ``__getattr__``, PEP 562)."""
    if name not in where:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr(importlib.import_module(where[name], package), name)
