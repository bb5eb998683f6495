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
