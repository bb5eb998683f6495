"""Run a function on the exact input a named layer receives in a model's forward pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from ._running import eval_mode, images_for, run_model
from .hooks import layer_hooks

T = TypeVar("T")


def on_layer_input(model: nn.Module, layer_name: str, images: torch.Tensor, inspect: Callable[[torch.Tensor], T]) -> T:
    """``inspect(input of layer_name)`` for ``images`` (``B x 3 x H x W``): one forward pass in eval
    mode (modes restored), no gradients, hooks removed even on error. The layer must run once."""
    results: list[T] = []

    def call(name: str, layer_input: torch.Tensor) -> None:
        if results:
            raise ValueError(f"layer {name!r} ran twice in one forward pass: inspect layers that run once")
        results.append(inspect(layer_input))

    with eval_mode(model), layer_hooks(model, [layer_name], call, of="input"), torch.no_grad():
        run_model(model, images_for(model, images))
    if not results:
        raise ValueError(f"layer {layer_name!r} did not run in the forward pass")
    return results[0]
