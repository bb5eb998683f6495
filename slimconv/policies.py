"""Replacement policies: which convolutions of a model an operator replaces.

A policy maps a model to the names of the ``nn.Conv2d`` layers to replace, in registration order.
The built-in ones reproduce the papers' placements (docs/operators.md):

- ``"all"``: every convolution (LinearConv converts stem, 1x1, shortcuts and depthwise convs).
- ``"3x3"``: every dense (groups 1) 3x3 convolution.
- ``"except-stem"``: every dense 3x3 convolution except the network's first convolution (SPConv,
  PEDConv and the baselines; in ResNet-50 this is exactly the 16 bottleneck 3x3 convs).
- ``"projection-1x1"``: the 1x1 projection of each inverted-residual block (FLGC): a dense 1x1 conv
  that comes right after a depthwise conv, in registration order, and reads its channels.
  Convolutions inside squeeze-and-excitation modules are passed over, so the projection that follows
  them is still found.
- a callable ``(name, module) -> bool``, called for every ``nn.Conv2d``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ._validate import nn_module
from .conv_layers import dense_convs

Policy = str | Callable[[str, nn.Conv2d], bool]
POLICIES = ("all", "3x3", "except-stem", "projection-1x1")
_SE_CLASS_NAMES = {"se", "semodule", "selayer", "seblock"}  # lower-cased; "squeeze..." matches too


def _is_3x3_dense(conv: nn.Conv2d) -> bool:
    return conv.kernel_size == (3, 3) and conv.groups == 1


def _is_depthwise(conv: nn.Conv2d) -> bool:
    return conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels


def _in_squeeze_excitation(model: nn.Module, name: str) -> bool:
    parts = name.split(".")
    for i in range(1, len(parts)):
        kind = type(model.get_submodule(".".join(parts[:i]))).__name__.lower()
        if "squeeze" in kind or kind in _SE_CLASS_NAMES:
            return True
    return False


def _projection_1x1(model: nn.Module, convs: list[tuple[str, nn.Conv2d]]) -> list[str]:
    selected, previous = [], None
    for name, conv in convs:
        if _in_squeeze_excitation(model, name):
            continue
        if (
            previous is not None
            and _is_depthwise(previous)
            and conv.kernel_size == (1, 1)
            and conv.groups == 1
            and conv.in_channels == previous.out_channels
        ):
            selected.append(name)
        previous = conv
    return selected


def check_policy(policy: object) -> Policy:
    """``policy`` if it names a built-in policy or is a callable, else ValueError."""
    if not callable(policy) and (not isinstance(policy, str) or policy not in POLICIES):
        raise ValueError(f"policy must be one of {', '.join(map(repr, POLICIES))} or a callable, got {policy!r}")
    return policy  # type: ignore[return-value]


def select_convs(model: nn.Module, policy: Policy) -> list[str]:
    """Names of the convolutions that ``policy`` selects in ``model``."""
    nn_module("model", model)
    check_policy(policy)
    convs = dense_convs(model)
    if callable(policy):
        return [name for name, conv in convs if policy(name, conv)]
    if policy == "all":
        return [name for name, _ in convs]
    if policy == "3x3":
        return [name for name, conv in convs if _is_3x3_dense(conv)]
    if policy == "except-stem":
        stem = convs[0][0] if convs else None
        return [name for name, conv in convs if _is_3x3_dense(conv) and name != stem]
    return _projection_1x1(model, convs)
