"""One bad-input case: a file built in code, what it tries, and the outcome it must have."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    """``build`` makes the file's bytes; it is fed as an upload named ``file_name`` (so messages
    name it, never a temporary path) with the loader's keyword ``options``; ``expect`` is a regex
    that the outcome (the error message, or what was loaded) must contain."""

    file_name: str
    tried: str
    build: Callable[[], bytes]
    expect: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The file name, with the options when there are any (a test id)."""
        return "-".join([self.file_name, *(f"{name}={value}" for name, value in self.options.items())])

    def upload(self) -> io.BytesIO:
        upload = io.BytesIO(self.build())
        upload.name = self.file_name
        return upload


def cut(build: Callable[[], bytes], length: int | float) -> Callable[[], bytes]:
    """A builder of the first ``length`` bytes (a float: that fraction) of what ``build`` makes."""
    def truncated() -> bytes:
        data = build()
        return data[: int(len(data) * length) if isinstance(length, float) else length]
    return truncated
