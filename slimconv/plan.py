"""Convert by plan: each named convolution replaced by its own operator and options.

A plan maps a layer name to ``(op, options)``, e.g. ``{"layers.1.0.conv1": ("spconv", {"alpha": 0.5}),
"layers.2.1.conv2": ("linearconv", {"variant": "lowrank", "rank": 6})}`` (as :func:`analysis.propose_plan`
makes one). ``slimconv.convert(model, plan)`` applies it through :func:`convert_by_plan`. Layers not named are
left as they are; every named layer must be a dense ``nn.Conv2d`` the operator can replace, or the whole plan is
refused (``ValueError`` naming the layer), so a plan is never applied halfway.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ._validate import boolean, nn_module
from .convert import ConvertReport, ReplacedLayer
from .convert import _check_options as check_options  # one option check for convert and plans
from .convert import _describe_conv as describe_conv
from .ops import get_op
from .policies import dense_convs
from .profile import count_params

Plan = Mapping[str, tuple[str, Mapping[str, Any]]]
PLAN_OP = "plan"


def options_text(options: Mapping[str, Any]) -> str:
    """``{"alpha": 0.5, "gwc_groups": 2}`` -> ``"alpha=0.5,gwc_groups=2"`` (the syntax of ``slimconv.op_spec``)."""
    return ",".join(f"{key}={value}" for key, value in sorted(options.items()))


def _entry(name: object, entry: object) -> tuple[str, dict[str, Any]]:
    if not isinstance(name, str):
        raise ValueError(f"a plan maps layer names (strings) to (op, options), got the key {name!r}")
    if not (isinstance(entry, tuple | list) and len(entry) == 2 and isinstance(entry[0], str)
            and isinstance(entry[1], Mapping)):
        raise ValueError(f"plan[{name!r}] must be (op, options) like ('spconv', {{'alpha': 0.5}}), got {entry!r}")
    return entry[0], dict(entry[1])


def check_plan(model: nn.Module, plan: Plan) -> dict[str, tuple[str, dict[str, Any]]]:
    """``plan`` as a plain dict, after checking every entry against ``model`` (``ValueError`` otherwise)."""
    nn_module("model", model)
    if not isinstance(plan, Mapping) or not plan:
        raise ValueError(f"a plan must be a non-empty mapping layer name -> (op, options), got {plan!r}")
    convs = dict(dense_convs(model))
    checked = {}
    for name, entry in plan.items():
        op, options = _entry(name, entry)
        op_class = get_op(op)
        check_options(op, op_class, options)
        if name not in convs:
            kind = type(model.get_submodule(name)).__name__ if _has_submodule(model, name) else None
            what = f"is a {kind}" if kind else "does not exist"
            raise ValueError(f"plan[{name!r}]: the layer {what}; a plan names dense nn.Conv2d layers of the model "
                             f"(e.g. {', '.join(list(convs)[:3])})")
        reason = op_class.unsupported_reason(convs[name], **options)
        if reason is not None:
            raise ValueError(f"plan[{name!r}]: {op} cannot replace {describe_conv(convs[name])}: {reason}")
        checked[name] = (op, options)
    return checked


def _has_submodule(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def convert_by_plan(model: nn.Module, plan: Plan, *, inplace: bool = False, seed: int = 0) -> tuple[nn.Module,
                                                                                                   ConvertReport]:
    """Replace each layer that ``plan`` names by its operator, in the layer's own geometry, device, dtype and
    train/eval mode, inheriting the dense weights where the operator can. Layers are built under a fixed
    ``seed`` (FLGC's initial grouping, SPConv's fresh weights): the same plan gives the same model.
    Returns the model (a copy unless ``inplace``) and a ``ConvertReport`` listing every replaced layer."""
    checked = check_plan(model, plan)
    boolean("inplace", inplace)
    if not inplace:
        model = copy.deepcopy(model)
    report = ConvertReport(op=PLAN_OP, policy=f"{len(checked)} named layers")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, (op, options) in checked.items():
            conv = model.get_submodule(name)
            layer = get_op(op).from_conv(conv, **options).train(conv.training)
            model.set_submodule(name, layer)
            text = options_text(options)
            report.replaced.append(ReplacedLayer(name, describe_conv(conv), f"{type(layer).__name__}({text})",
                                                 count_params(conv), count_params(layer)))
    return model, report
