"""Project exceptions: errors a user can cause, with messages that say what to do."""

from __future__ import annotations


class SlimconvError(Exception):
    """Base of every error slimconv raises on purpose (not for programming errors)."""


class UnsupportedLayerError(SlimconvError, ValueError):
    """An operator cannot replace a given convolution (grouped, dilated, odd padding, ...)."""


class WeightsUnavailableError(SlimconvError):
    """Pretrained weights could not be obtained (offline, missing file, wrong architecture)."""


class CheckpointError(WeightsUnavailableError):
    """A checkpoint file cannot be used: empty, truncated, not a checkpoint, unsafe, metadata missing,
    or weights that do not fit the recorded architecture. The message says what is wrong and what to do."""


class DatasetUnavailableError(SlimconvError):
    """A training dataset could not be found locally nor downloaded."""


class NonFiniteLossError(SlimconvError):
    """Training stopped because the loss became NaN or infinite; the last good checkpoint is kept."""


def download_failure(error: BaseException, url: str) -> str:
    """Why downloading ``url`` failed, in words (never the raw ``<urlopen error ...>`` text)."""
    import socket
    import urllib.error
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or url
    reason = error.reason if isinstance(error, urllib.error.URLError) and not isinstance(
        error, urllib.error.HTTPError) else error
    if isinstance(error, urllib.error.HTTPError):
        return f"{host} answered HTTP {error.code} {error.reason}".rstrip()
    if isinstance(reason, socket.gaierror):
        return f"this machine cannot look up {host}: no network, or no name server"
    if isinstance(reason, TimeoutError):
        return f"{host} did not answer in time"
    if isinstance(reason, ConnectionRefusedError):
        return f"{host} refused the connection"
    if isinstance(reason, OSError) and reason.strerror:
        return f"{host} could not be reached: {reason.strerror.lower()}"
    if isinstance(error, RuntimeError):  # torch.hub's hash check
        return "the downloaded file is not the expected one (its checksum differs)"
    if isinstance(reason, str) and reason:
        return f"{host} could not be reached: {reason}"
    return f"{host} could not be reached ({type(reason).__name__})"
