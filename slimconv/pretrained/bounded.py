"""Bounded looks at untrusted values: size, depth and node counts found by a walk that never recurses.

A value unpickled from a file may share references (the "billion laughs" pattern: a list holding the same
list ten times, ten levels deep, is tiny in the file and 10^10 nodes when serialised or printed). So nothing
may ``json.dumps``, ``repr`` or copy it before :func:`check_bounded` has counted every node it would visit,
shared ones once per use, and stopped at the first limit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from torch import Tensor

#: Serialised size, nesting depth and node count a checkpoint's metadata may have.
MAX_META_BYTES = 64 * 1024
MAX_META_DEPTH = 8
MAX_META_NODES = 20_000

_SCALARS = (str, int, float, bool, type(None))


class BoundExceeded(ValueError):
    """A value is larger, deeper or of another kind than allowed; the message says which."""


def _children(value: object) -> Iterator[object]:
    if type(value) is dict:
        for key, item in value.items():
            yield key
            yield item
    elif type(value) in (list, tuple):
        yield from value


def check_bounded(value: object, where: str, *, max_bytes: int = MAX_META_BYTES, max_depth: int = MAX_META_DEPTH,
                  max_nodes: int = MAX_META_NODES, allow_tensors: bool = False) -> None:
    """Raise :class:`BoundExceeded` unless ``value`` holds only dicts, lists, tuples and plain scalars (and
    tensors with ``allow_tensors``), at most ``max_depth`` levels deep, ``max_nodes`` nodes and about
    ``max_bytes`` bytes as JSON. Iterative, and stops at the first limit: its cost is ``O(max_nodes)``."""
    nodes, size = 0, 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise BoundExceeded(f"{where} has more than {max_nodes:,} values (shared references count once per use)")
        kind = type(item)
        if kind is str:
            size += len(item) + 3  # quotes and a separator; non-ASCII is counted once per character
        elif kind in _SCALARS:
            size += 8
            if kind is float and not math.isfinite(item):
                size += 1  # allowed here; the schema says where a number must be finite
        elif allow_tensors and isinstance(item, Tensor):
            size += 8
        elif kind in (dict, list, tuple):
            if depth >= max_depth:
                raise BoundExceeded(f"{where} is nested more than {max_depth} levels deep")
            size += 2
            if nodes + len(stack) + len(item) > max_nodes:  # before pushing: one list may hold millions
                raise BoundExceeded(f"{where} has more than {max_nodes:,} values (shared references count once "
                                    "per use)")
            stack.extend((child, depth + 1) for child in _children(item))
        else:
            raise BoundExceeded(f"{where} holds a {kind.__module__}.{kind.__qualname__}; only dicts, lists, str, "
                                "numbers, bool and None are allowed")
        if size > max_bytes:
            raise BoundExceeded(f"{where} is larger than {max_bytes // 1024} KiB")


def short(value: object, limit: int = 60) -> str:
    """A bounded description of an untrusted value for a message: a scalar's repr cut to ``limit``
    characters, or just the container's kind and length (never its contents)."""
    if type(value) in _SCALARS:
        text = repr(value)
        return text if len(text) <= limit else text[: limit - 3] + "..."
    if type(value) in (dict, list, tuple):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    return f"a {type(value).__name__}"
