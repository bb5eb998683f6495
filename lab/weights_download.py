"""Torchvision weights downloaded into torch's cache with a progress callback (offline: a clear error)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from slimconv import WeightsUnavailableError
from slimconv.errors import download_failure

if TYPE_CHECKING:  # annotations only: torchvision is imported with the first torchvision model
    from torchvision.models import WeightsEnum

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 15


def cached_weights_path(weights: WeightsEnum) -> Path:
    """Where torchvision looks for ``weights`` (``<torch hub dir>/checkpoints/<file name>``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def ensure_torchvision_weights(weights: WeightsEnum, progress: Callable[[float], None]) -> Path:
    """Download ``weights`` unless cached, calling ``progress(fraction)``; raises ``WeightsUnavailableError``
    offline, saying why in words and what to do instead (upload the file). A partial
    download never stays in the cache."""
    target = cached_weights_path(weights)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with urllib.request.urlopen(weights.url, timeout=TIMEOUT_S) as response, partial.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                done += len(chunk)
                if total:
                    progress(min(done / total, 1.0))
        partial.replace(target)
    except (urllib.error.URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise WeightsUnavailableError(
            f"Could not download the {weights} weights: {download_failure(error, weights.url)}. Download "
            f"{weights.url} on a machine with internet and upload it below "
            "as the weights file (Weights: weights file), or choose random weights to see the architecture only."
        ) from None
    return target
