"""The run's metrics log: one JSON object per epoch in ``metrics.jsonl``."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..pretrained import write_atomically


class MetricsLog:
    """Append-only JSON lines, one per finished epoch; ``rewrite`` resets it to a checkpoint's history."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one epoch's line and flush it to disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(dict(record)) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def rewrite(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Replace the log by ``records`` (atomically): lines of epochs after the checkpoint go away."""
        write_atomically(self.path, "".join(json.dumps(dict(r)) + "\n" for r in records).encode("utf-8"))

