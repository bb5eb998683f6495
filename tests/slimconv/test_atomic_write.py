"""Atomic file writes: the whole new file or the old one, readable like any other file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from slimconv.pretrained import write_atomically


def test_writes_the_bytes_readable_by_all_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = write_atomically(tmp_path / "new" / "model.pt", b"weights")
    assert path.read_bytes() == b"weights"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's private 0600
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_atomically(tmp_path / "model.pt", b"old")

    def crash(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]
