"""Model surgery: replace a model's convolutions by an operator, reporting what changed."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ._validate import boolean, nn_module
from .ops import SlimConv2d, get_op
from .policies import Policy, check_policy, select_convs
from .profile import count_params

#: The papers' placements (docs/operators.md), used when ``policy`` is not given.
DEFAULT_POLICIES: dict[str, str] = {"linearconv": "all", "flgc": "projection-1x1"}
_FALLBACK_POLICY = "except-stem"
#: Where the paper's placement selects nothing in a model, the default placement used instead. FLGC's
#: paper groups the 1x1 projections of inverted residuals; a model without them (a ResNet, VGG) gets
#: its 3x3 convs grouped, the stem excepted, as the zoo's FLGC ResNet-20 has them.
DEFAULT_FALLBACKS: dict[str, str] = {"flgc": "except-stem"}


def default_policy(op: str, model: nn.Module | None = None) -> str:
    """The placement of the operator's paper: ``except-stem`` unless listed in ``DEFAULT_POLICIES``.

    With ``model``, the placement ``convert`` uses by default on that model: the paper's, or its
    ``DEFAULT_FALLBACKS`` entry where the paper's selects no convolution of ``model``.
    """
    get_op(op)
    policy = DEFAULT_POLICIES.get(op, _FALLBACK_POLICY)
    if model is not None and op in DEFAULT_FALLBACKS and not select_convs(model, policy):
        return DEFAULT_FALLBACKS[op]
    return policy


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
    note: str = ""  # why the default placement differs from the paper's, when it does

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
        if self.note:
            lines.append(f"  note: {self.note}")
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


def custom_forward_reason(conv: nn.Conv2d) -> str | None:
    """Why a ``Conv2d`` subclass that computes its own way (e.g. weight standardisation) is not replaced:
    an operator would silently drop what its ``forward`` adds; ``None`` for a plain ``nn.Conv2d``."""
    kind = type(conv)
    if kind.forward is nn.Conv2d.forward and kind._conv_forward is nn.Conv2d._conv_forward:
        return None
    return (f"{kind.__name__} is a Conv2d subclass with its own forward, which an operator would not reproduce; "
            "pass replace_custom_convs=True to replace it anyway")


def other_uses(model: nn.Module, name: str, module: nn.Module) -> list[str]:
    """The other names under which ``model`` holds the very same ``module`` (a layer shared by two places)."""
    return [other for other, found in model.named_modules(remove_duplicate=False) if found is module and other != name]


def convert(
    model: nn.Module,
    op: str | Mapping[str, tuple[str, Mapping[str, Any]]],
    *,
    policy: Policy | None = None,
    inplace: bool = False,
    return_report: bool = False,
    replace_custom_convs: bool = False,
    **options: Any,
) -> nn.Module | tuple[nn.Module, ConvertReport]:
    """Replace the convolutions that ``policy`` selects by operator ``op`` built with ``options``.

    Each new layer keeps the replaced conv's geometry (channels, kernel, stride, padding, bias),
    device, dtype and train/eval mode, and inherits its weights where the operator can (LinearConv,
    FLGC, OctConv). Without ``policy``: the operator paper's placement, or, where that selects
    nothing, ``DEFAULT_FALLBACKS`` (FLGC on a model without inverted-residual projections groups its
    3x3 convs but the stem); the report's ``note`` says so. Selected layers the operator cannot
    replace are skipped and named in the report, and so are ``Conv2d`` subclasses with their own
    ``forward`` unless ``replace_custom_convs=True``. A conv used at several places (one instance under
    several names) is replaced by one new layer at every one of them, so the sharing is kept; the
    report names each place.
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
    note = ""
    if policy is None:
        policy = default_policy(op, model)
        paper = default_policy(op)
        if policy != paper:
            note = (f"the paper's placement {paper!r} selects no convolution of {type(model).__name__}; "
                    f"the default placement there is {policy!r}")
    else:
        policy = check_policy(policy)
    boolean("inplace", inplace)
    boolean("return_report", return_report)
    boolean("replace_custom_convs", replace_custom_convs)
    _check_options(op, op_class, options)
    policy_name = policy if isinstance(policy, str) else getattr(policy, "__name__", "callable")
    op_class(64, 64, 3, **options, device="meta")  # bad options fail here, once, with their message
    if not inplace:
        model = copy.deepcopy(model)
    report = ConvertReport(op=op, policy=policy_name, note=note)
    for name in select_convs(model, policy):
        conv = model.get_submodule(name)
        reason = op_class.unsupported_reason(conv, **options)
        if reason is None and not replace_custom_convs:
            reason = custom_forward_reason(conv)
        aliases = other_uses(model, name, conv)
        if reason is not None:
            report.skipped.extend(SkippedLayer(place, reason) for place in [name, *aliases])
            continue
        layer = op_class.from_conv(conv, **options).train(conv.training)
        for place in [name, *aliases]:
            model.set_submodule(place, layer)
        report.replaced.append(
            ReplacedLayer(name, _describe_conv(conv), type(layer).__name__, count_params(conv), count_params(layer))
        )
        report.replaced.extend(ReplacedLayer(place, f"the same layer as {name}", type(layer).__name__, 0, 0)
                               for place in aliases)
    if not report.replaced:
        why = "; ".join(f"{s.name}: {s.reason}" for s in report.skipped[:3]) or "the policy selected no convolution"
        raise ValueError(f"convert({op!r}, policy={policy_name!r}) replaced nothing in {type(model).__name__} ({why})")
    return (model, report) if return_report else model
