"""A model's convolutions, enumerated once: every ``nn.Conv2d`` and every slimconv operator, in order.

The one walk behind the replacement policies (which dense convs to replace), profiling (the channels
a model takes) and analysis (the layers a page offers).
"""

from __future__ import annotations

from torch import nn

from ._validate import nn_module
from .ops import SlimConv2d


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, layer)`` of each convolution of ``model``, in registration order.

    A convolution is an ``nn.Conv2d`` or an operator (``SlimConv2d``); the ``nn.Conv2d`` modules inside
    an operator are parts of it, not layers of their own, and are left out.
    """
    found: list[tuple[str, nn.Module]] = []
    operator_prefixes: list[str] = []
    for name, module in nn_module("model", model).named_modules():
        if any(name.startswith(prefix) for prefix in operator_prefixes):
            continue
        if isinstance(module, SlimConv2d):
            found.append((name, module))
            operator_prefixes.append(f"{name}." if name else "")  # a model that is one operator: all inside it
        elif isinstance(module, nn.Conv2d):
            found.append((name, module))
    return found


def dense_convs(model: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every ``nn.Conv2d`` of ``model`` that no operator has replaced yet, in registration order."""
    return [(name, layer) for name, layer in conv_layers(model) if isinstance(layer, nn.Conv2d)]
