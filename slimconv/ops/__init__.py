"""Drop-in convolution operators, one per file, all in one registry."""

from ._base import SlimConv2d
from ._registry import create_conv, get_op, list_ops, register_op

# Importing the operator modules registers them.
from . import ghost, hetconv, octconv  # noqa: E402  (baselines)
from . import flgc, linearconv, pedconv, spconv  # noqa: E402

__all__ = ["SlimConv2d", "create_conv", "get_op", "list_ops", "register_op"]
