"""The run folder (``--out``), checked before any work: a run that cannot write its files fails in a second,
not after its first epoch; and the temporaries of a killed write are cleaned up."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import SlimconvError

#: Free space a run needs at the very least (metrics, summary, a small model), checked before anything else.
MIN_FREE_BYTES = 32 * 1024 * 1024
_PROBE_BYTES = 1024 * 1024


class OutFolderError(SlimconvError, OSError):
    """``--out`` cannot hold the run: a file, not writable, or too little space. The message says which."""


def _describe(error: OSError) -> str:
    return error.strerror or str(error)


def check_out_folder(out: Path, needed_bytes: int = MIN_FREE_BYTES) -> None:
    """Create ``out`` if needed and prove it writable with a 1 MiB probe file; ``OutFolderError`` (one line)
    when it is a file, cannot be created or written, or has less than ``needed_bytes`` free."""
    if out.exists() and not out.is_dir():
        raise OutFolderError(f"--out {out} is a file, not a folder; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutFolderError(f"--out {out} cannot be created ({_describe(error)}); choose another --out") from None
    try:
        handle, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=out)
    except OSError as error:
        raise OutFolderError(f"--out {out} is not writable ({_describe(error)}); choose another --out") from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(bytes(_PROBE_BYTES))
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise OutFolderError(f"--out {out} cannot hold the run's files ({_describe(error)}); free some space "
                             "or choose another --out") from None
    finally:
        Path(probe).unlink(missing_ok=True)
    check_free_space(out, needed_bytes)


def check_free_space(out: Path, needed_bytes: int) -> None:
    """``OutFolderError`` when the disk of ``out`` has less than ``needed_bytes`` free."""
    free = shutil.disk_usage(out).free
    if free < needed_bytes:
        raise OutFolderError(f"--out {out} has {free / 2**20:,.1f} MiB free, the run needs about "
                             f"{needed_bytes / 2**20:,.1f} MiB (checkpoints are written atomically, beside the old "
                             "one); free some space or choose another --out")


def checkpoint_bytes_needed(parameter_bytes: int) -> int:
    """Room for checkpoints: weights plus optimizer state (about 3x the weights), twice during an atomic
    replace, plus the final model and :data:`MIN_FREE_BYTES`."""
    return 7 * parameter_bytes + MIN_FREE_BYTES


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files that a process killed while writing leaves (see ``write_atomically``);
    return what was removed. Only hidden ``*.tmp`` files directly in the run folder are touched."""
    removed = []
    for leftover in out.glob(".*.tmp") if out.is_dir() else ():
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed
