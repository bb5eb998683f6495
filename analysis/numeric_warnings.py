"""The warning of a result that is computed but says less than it seems: a blank attribution, CKA that is
undefined for some layers, channels that are constant on every image. Pages show its message beside the
figure; a script sees it through :mod:`warnings` (and can turn it into an error with a filter)."""

from __future__ import annotations


class AnalysisWarning(UserWarning):
    """A result with parts that carry no information (NaN or blank); the message says which and why."""
