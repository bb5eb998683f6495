"""Writing files so that a reader (or a resumed run) never sees a half-written one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .._validate import file_path


def write_atomically(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync, ``os.replace``.

    A process killed at any moment leaves either the old file or the new one, never a partial one
    (the temporary file may remain; it is named ``.<name>.*.tmp`` and ignored by readers). The folder
    is created when missing and fsynced after the rename where the OS allows it.
    """
    path = file_path("path", path)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"data must be bytes, got {type(data).__name__} (encode text first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); checkpoints are shared: owner writes, all read.
        # (Not 0o666 & ~umask: reading the umask means setting it, which races with other threads.)
        os.chmod(temporary, 0o644)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; the rename is still atomic there
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
