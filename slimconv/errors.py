"""Project exceptions: errors a user can cause, with messages that say what to do."""

from __future__ import annotations


class SlimconvError(Exception):
    """Base of every error slimconv raises on purpose (not for programming errors)."""


class UnsupportedLayerError(SlimconvError, ValueError):
    """An operator cannot replace a given convolution (grouped, dilated, odd padding, ...)."""


class WeightsUnavailableError(SlimconvError):
    """Pretrained weights could not be obtained (offline, missing file, wrong architecture)."""
