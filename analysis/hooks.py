"""Hooks on named layers, attached inside context managers and always removed, even on error.

Every function of ``analysis`` that runs a model goes through :func:`layer_hooks`, so a cached
model (``st.cache_resource``) never keeps a hook after the call. :func:`hook_guard` is the safety net
for third-party code (captum) that attaches hooks of its own.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from slimconv._validate import choice, nn_module
from slimconv.conv_layers import conv_layers

TensorCallback = Callable[[str, torch.Tensor], "torch.Tensor | None"]

# Per-module dictionaries in which torch keeps hooks (some are keyed by the same handle ids).
_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
)


def conv_layer_names(model: nn.Module) -> list[str]:
    """Names of the convolutions of ``model``, in registration order.

    A convolution is an ``nn.Conv2d`` or a slimconv operator (``SlimConv2d``); the ``nn.Conv2d``
    modules inside an operator are parts of it, not layers of their own, and are left out.
    """
    return [name for name, _ in conv_layers(model)]


def resolve_layers(model: nn.Module, layer_names: Sequence[str]) -> dict[str, nn.Module]:
    """Map each name of ``model.named_modules()`` to its module; unknown names raise ValueError."""
    nn_module("model", model)
    layer_names = layer_name_list(layer_names)
    if len(layer_names) == 0:
        raise ValueError("layer_names is empty: name at least one layer (see conv_layer_names(model))")
    modules = dict(model.named_modules())
    resolved: dict[str, nn.Module] = {}
    for name in layer_names:
        if name not in modules:
            close = difflib.get_close_matches(name, list(modules), n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"model has no layer named {name!r}{hint}")
        if name in resolved:
            raise ValueError(f"layer {name!r} is named twice in layer_names")
        resolved[name] = modules[name]
    return resolved


def layer_name_list(layer_names: object) -> list[str]:
    """``layer_names`` as a list: one name (a string) or a sequence of names."""
    if isinstance(layer_names, str):
        return [layer_names]
    if not isinstance(layer_names, Sequence) or not all(isinstance(name, str) for name in layer_names):
        raise ValueError(f"layer_names must be a layer name or a sequence of layer names, got {layer_names!r}")
    return list(layer_names)


@contextmanager
def layer_hooks(
    model: nn.Module,
    layer_names: Sequence[str],
    callback: TensorCallback,
    *,
    of: Literal["output", "input"] = "output",
) -> Iterator[dict[str, nn.Module]]:
    """Call ``callback(name, tensor)`` with the output (or first input) of each named layer.

    If the callback returns a tensor, it replaces that output (input) in the forward pass.
    Yields the resolved ``{name: module}``; every hook is removed on exit, also after an error.
    Layers whose output (input) is not a single tensor raise ValueError when they run.
    """
    choice("of", of, ("output", "input"))
    if not callable(callback):
        raise ValueError(f"callback must be a callable (name, tensor) -> tensor or None, got {callback!r}")
    modules = resolve_layers(model, layer_names)
    handles: list[RemovableHandle] = []
    try:
        for name, module in modules.items():
            if of == "output":
                handles.append(module.register_forward_hook(_output_hook(name, callback)))
            else:
                handles.append(module.register_forward_pre_hook(_input_hook(name, callback)))
        yield modules
    finally:
        for handle in handles:
            handle.remove()


def _output_hook(name: str, callback: TensorCallback):
    def hook(module: nn.Module, args: tuple, output: object):
        if not isinstance(output, torch.Tensor):
            raise ValueError(f"layer {name!r} returns {type(output).__name__}, not a tensor: pick another layer")
        return callback(name, output)

    return hook


def _input_hook(name: str, callback: TensorCallback):
    def hook(module: nn.Module, args: tuple):
        if len(args) == 0 or not isinstance(args[0], torch.Tensor):
            raise ValueError(f"layer {name!r} is not called with a tensor as first input: pick another layer")
        replacement = callback(name, args[0])
        return None if replacement is None else (replacement, *args[1:])

    return hook


def attached_hook_count(model: nn.Module) -> int:
    """Number of forward / backward hooks attached to ``model`` and its submodules."""
    return sum(
        len(getattr(m, attr))
        for m in nn_module("model", model).modules()
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    )


@contextmanager
def hook_guard(model: nn.Module) -> Iterator[None]:
    """Remove, on exit (also after an error), every module hook attached inside the block."""
    nn_module("model", model)
    before = {id(m): {attr: set(getattr(m, attr, {})) for attr in _HOOK_DICTS} for m in model.modules()}
    try:
        yield
    finally:
        for module in model.modules():
            known = before.get(id(module), {})
            for attr in _HOOK_DICTS:
                hooks = getattr(module, attr, None)
                if hooks is None:
                    continue
                for key in set(hooks) - known.get(attr, set()):
                    del hooks[key]
