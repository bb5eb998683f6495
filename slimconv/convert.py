"""Model surgery: replace a model's convolutions by an operator, reporting what changed."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .ops import SlimConv2d, get_op
from .ops._validate import boolean, nn_module
from .policies import Policy, check_policy, select_convs
from .profile import count_params

#: The papers' placements (OPERATORS.md), used when ``policy`` is not given.
DEFAULT_POLICIES: dict[str, str] = {"linearconv": "all", "flgc": "projection-1x1"}
_FALLBACK_POLICY = "except-stem"


def default_policy(op: str) -> str:
    """The placement of the operator's paper: ``except-stem`` unless listed in ``DEFAULT_POLICIES``."""
    get_op(op)
    return DEFAULT_POLICIES.get(op, _FALLBACK_POLICY)


@dataclass(frozen=True)
class ReplacedLayer:
    name: str
    before: str
    after: str
    params_before: int
    params_after: int


@dataclass(frozen=True)
class SkippedLayer:
    name: str
    reason: str


@dataclass
class ConvertReport:
    """What ``convert`` did: layers replaced (from what to what) and layers skipped (and why)."""

    op: str
    policy: str
    replaced: list[ReplacedLayer] = field(default_factory=list)
    skipped: list[SkippedLayer] = field(default_factory=list)

    @property
    def params_before(self) -> int:
        return sum(layer.params_before for layer in self.replaced)

    @property
    def params_after(self) -> int:
        return sum(layer.params_after for layer in self.replaced)

    def __str__(self) -> str:
        lines = [
            f"convert to {self.op} (policy {self.policy}): {len(self.replaced)} replaced, {len(self.skipped)} skipped"
        ]
        for layer in self.replaced:
            params = f"params {layer.params_before:,} -> {layer.params_after:,}"
            lines.append(f"  {layer.name}: {layer.before} -> {layer.after}  {params}")
        for layer in self.skipped:
            lines.append(f"  skipped {layer.name}: {layer.reason}")
        lines.append(f"  replaced layers' params: {self.params_before:,} -> {self.params_after:,}")
        return "\n".join(lines)


def _describe_conv(conv: nn.Conv2d) -> str:
    k, s = conv.kernel_size[0], conv.stride[0]
    groups = f", groups={conv.groups}" if conv.groups != 1 else ""
    return f"Conv2d({conv.in_channels}->{conv.out_channels}, k={k}, s={s}{groups})"


def _check_options(op: str, op_class: type[SlimConv2d], options: dict[str, Any]) -> None:
    """Only the operator's keyword options are allowed: the geometry comes from each replaced conv."""
    allowed = [
        p.name
        for p in inspect.signature(op_class).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in ("device", "dtype")
    ]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        listed = ", ".join(allowed) or "none"
        raise ValueError(f"{', '.join(map(repr, unknown))} is not an option of {op!r}; its options are {listed}")


def convert(
    model: nn.Module,
    op: str | Mapping[str, tuple[str, Mapping[str, Any]]],
    *,
    policy: Policy | None = None,
    inplace: bool = False,
    return_report: bool = False,
    **options: Any,
) -> nn.Module | tuple[nn.Module, ConvertReport]:
    """Replace the convolutions that ``policy`` selects by operator ``op`` built with ``options``.

    Each new layer keeps the replaced conv's geometry (channels, kernel, stride, padding, bias),
    device, dtype and train/eval mode, and inherits its weights where the operator can (LinearConv,
    FLGC, OctConv). Selected layers the operator cannot replace are skipped and named in the report.
    Raises ``ValueError`` for bad options or when nothing could be replaced, so a conversion never
    silently does nothing. Returns the model (a copy unless ``inplace``) and, with
    ``return_report=True``, a ``ConvertReport``.

    ``op`` may instead be a plan, ``{layer name: (op, options)}``: each named layer gets its own operator
    (see :mod:`slimconv.plan`); ``policy`` and ``options`` are then not given.
    """
    nn_module("model", model)
    if isinstance(op, Mapping):
        from .plan import convert_by_plan  # here: slimconv.plan builds on this module

        if policy is not None or options:
            raise ValueError("convert with a plan takes no policy or options: each plan entry carries its own")
        model, report = convert_by_plan(model, op, inplace=boolean("inplace", inplace))
        return (model, report) if boolean("return_report", return_report) else model
    op_class = get_op(op)
    policy = default_policy(op) if policy is None else check_policy(policy)
    boolean("inplace", inplace)
    boolean("return_report", return_report)
    _check_options(op, op_class, options)
    policy_name = policy if isinstance(policy, str) else getattr(policy, "__name__", "callable")
    op_class(64, 64, 3, **options, device="meta")  # bad options fail here, once, with their message
    if not inplace:
        model = copy.deepcopy(model)
    report = ConvertReport(op=op, policy=policy_name)
    for name in select_convs(model, policy):
        conv = model.get_submodule(name)
        reason = op_class.unsupported_reason(conv, **options)
        if reason is not None:
            report.skipped.append(SkippedLayer(name, reason))
            continue
        layer = op_class.from_conv(conv, **options).train(conv.training)
        model.set_submodule(name, layer)
        report.replaced.append(
            ReplacedLayer(name, _describe_conv(conv), type(layer).__name__, count_params(conv), count_params(layer))
        )
    if not report.replaced:
        why = "; ".join(f"{s.name}: {s.reason}" for s in report.skipped[:3]) or "the policy selected no convolution"
        raise ValueError(f"convert({op!r}, policy={policy_name!r}) replaced nothing in {type(model).__name__} ({why})")
    return (model, report) if return_report else model
