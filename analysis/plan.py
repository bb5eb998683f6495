"""A per-layer slimming plan from measured redundancy, with the parameters and MACs it predicts.

For every dense convolution (evidence from :mod:`analysis.plan_evidence`) the candidates are:

- SPConv with ``alpha`` in 3/4, 1/2, 1/4 (3x3 layers): the *risk* is the share of distinct input channels the
  representative part cannot hold, ``max(0, distinct_share - alpha)``. SPConv's layers start untrained.
- LinearConv (``lowrank`` with the rank the filter spectrum needs for ``energy``, ``full`` when that rank is not
  below ``min(S, P)``): the risk is the weight energy lost when the secondaries are rebuilt from the first
  ``P = N // 2`` filters, measured on the layer ``convert`` would build. It saves parameters, not MACs (its
  deploy form is a plain convolution).
- FLGC with 2 or 4 groups: the risk is the weight energy its initial grouping masks out (built with the same
  seed as :func:`slimconv.plan.convert_by_plan`), before training learns the grouping.

Without a budget each layer takes its most saving candidate whose risk is at most ``tolerance``, else it is
kept. With a budget (a target share of the model's MACs or parameters), the cheapest risks are taken first,
layer by layer, until the predicted share reaches the target. Parameters are counted on the trained form (what
``convert`` reports), MACs on the deploy form (what runs), for one image of the images' size.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import nn

import slimconv
from slimconv._validate import choice, fraction, nn_module
from slimconv.deploy import NothingToDeployWarning
from slimconv.plan import check_plan, convert_by_plan, describe_conv, options_text

from .plan_evidence import LayerEvidence, measure_evidence
from .similarity import SimilarityMetric

KEEP = "keep"
BUDGETS = ("macs", "params")
SPCONV_ALPHAS = (0.75, 0.5, 0.25)
FLGC_GROUPS = (2, 4)
Budget = Literal["macs", "params"]


@dataclass(frozen=True)
class LayerProposal:
    """One layer of a plan: ``op`` (``"keep"`` or an operator) with ``options``, why, the ``risk`` (0: fully
    supported by the measured redundancy) and the layer's parameters and MACs before and after."""

    name: str
    layer: str
    op: str
    options: dict[str, Any]
    reason: str
    risk: float
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    input_size: tuple[int, int]


@dataclass(frozen=True)
class SlimmingPlan:
    """Every dense convolution's proposal, and the whole model's parameters and MACs before and (predicted)
    after. ``budget``/``target``: what steered it (``None``: the measured redundancy alone)."""

    layers: list[LayerProposal]
    params_before: int
    macs_before: int
    budget: str | None
    target: float | None
    tolerance: float

    @property
    def params_after(self) -> int:
        return self.params_before - sum(p.params_before - p.params_after for p in self.layers)

    @property
    def macs_after(self) -> int:
        return self.macs_before - sum(p.macs_before - p.macs_after for p in self.layers)

    @property
    def changed(self) -> list[LayerProposal]:
        return [p for p in self.layers if p.op != KEEP]

    def mapping(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """The plan for ``slimconv.convert(model, plan.mapping())``: the layers it changes."""
        return {p.name: (p.op, dict(p.options)) for p in self.changed}

    def to_rows(self) -> list[dict[str, object]]:
        return [{"layer": p.name, "conv": p.layer, "op": p.op, "options": options_text(p.options),
                 "risk": round(p.risk, 3), "params": f"{p.params_before:,} -> {p.params_after:,}",
                 "MACs": f"{p.macs_before:,} -> {p.macs_after:,}", "reason": p.reason} for p in self.layers]


@dataclass(frozen=True)
class _Candidate:
    op: str
    options: dict[str, Any]
    risk: float
    params: int
    macs: int
    reason: str


def deploy_macs(model: nn.Module, input_size: tuple[int, ...]) -> int:
    """MACs of ``model``'s deploy form for one ``C x H x W`` input, counted on the meta device (no arithmetic)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NothingToDeployWarning)
        deployed = slimconv.deploy(model)
    return slimconv.count_macs(deployed.to("meta"), input_size)


def _layer_cost(layer: nn.Module, conv: nn.Conv2d, input_size: tuple[int, int]) -> tuple[int, int]:
    """Trained-form parameters and deploy-form MACs of ``layer`` for one ``C x H x W`` input."""
    return slimconv.count_params(layer), deploy_macs(layer, (conv.in_channels, *input_size))


def _built(conv: nn.Conv2d, op: str, options: dict[str, Any]) -> nn.Module:
    """The layer ``convert_by_plan`` builds for this entry alone (same seed, so FLGC's grouping is the same)."""
    model, _ = convert_by_plan(nn.Sequential(conv), {"0": (op, options)})
    return model[0]


def _weight_energy_lost(dense: torch.Tensor, kept: torch.Tensor) -> float:
    total = float(dense.double().square().sum())
    return float((dense.double() - kept.double()).square().sum()) / total if total > 0 else 0.0


def _candidates(evidence: LayerEvidence, threshold: float, energy: float) -> list[_Candidate]:
    conv, found = evidence.conv, []
    weight = conv.weight.detach()
    distinct = (f"{evidence.distinct_inputs} of {conv.in_channels} input channels are distinct at |r| >= "
                f"{threshold:g}" + (f" ({evidence.dead_inputs} dead)" if evidence.dead_inputs else ""))
    for alpha in SPCONV_ALPHAS:
        if slimconv.SPConv2d.unsupported_reason(conv, alpha=alpha) is None:
            layer = _built(conv, "spconv", {"alpha": alpha})
            found.append(_Candidate("spconv", {"alpha": alpha}, max(0.0, evidence.distinct_share - alpha),
                                    *_layer_cost(layer, conv, evidence.input_size),
                                    f"{distinct}; alpha={alpha:g} keeps {int(conv.in_channels * alpha)}; "
                                    "SPConv starts untrained"))
    if conv.groups == 1 and conv.out_channels >= 4:
        primaries, secondaries = conv.out_channels // 2, conv.out_channels - conv.out_channels // 2
        limit = min(primaries, secondaries)
        options = {"variant": "lowrank", "rank": evidence.filter_rank} if evidence.filter_rank < limit else {}
        layer = _built(conv, "linearconv", options)
        lost = _weight_energy_lost(weight, layer.composed_weight().detach())
        found.append(_Candidate("linearconv", options, lost, *_layer_cost(layer, conv, evidence.input_size),
                                f"{evidence.filter_rank} of {evidence.max_filter_rank} singular directions hold "
                                f"{energy:.0%} of the filters' energy; {primaries} primaries rebuild the other "
                                f"{secondaries} to {1 - lost:.1%} of the weight energy"))
    for groups in FLGC_GROUPS:
        if conv.groups == 1 and conv.in_channels >= groups and conv.out_channels >= groups:
            layer = _built(conv, "flgc", {"groups": groups})
            lost = _weight_energy_lost(weight, weight * layer.group_mask()[:, :, None, None])
            found.append(_Candidate("flgc", {"groups": groups}, lost, *_layer_cost(layer, conv, evidence.input_size),
                                    f"{groups} groups keep {1 - lost:.0%} of the weight energy until training "
                                    "learns the grouping"))
    return found


def _proposal(evidence: LayerEvidence, candidate: _Candidate | None, dense_cost: tuple[int, int],
              reason: str | None = None) -> LayerProposal:
    conv, (params, macs) = evidence.conv, dense_cost
    layer = describe_conv(conv)
    if candidate is None:
        return LayerProposal(evidence.name, layer, KEEP, {}, reason or "", 0.0, params, params, macs, macs,
                             evidence.input_size)
    return LayerProposal(evidence.name, layer, candidate.op, candidate.options, reason or candidate.reason,
                         candidate.risk, params, candidate.params, macs, candidate.macs, evidence.input_size)


def _saving(candidate: _Candidate, dense_cost: tuple[int, int], budget: str) -> int:
    return dense_cost[1] - candidate.macs if budget == "macs" else dense_cost[0] - candidate.params


def _keep_reason(candidates: list[_Candidate], tolerance: float) -> str:
    if not candidates:
        return "no operator can replace this layer with fewer parameters or MACs"
    best = min(candidates, key=lambda c: c.risk)
    return f"not redundant enough: the safest change, {best.op} {options_text(best.options)}, risks " \
           f"{best.risk:.3f} > {tolerance:g} ({best.reason})"


def propose_plan(
    model: nn.Module,
    images: torch.Tensor,
    *,
    budget: Budget | None = None,
    target: float | None = None,
    tolerance: float = 0.05,
    metric: SimilarityMetric = "pearson",
    threshold: float = 0.9,
    energy: float = 0.95,
) -> SlimmingPlan:
    """A plan for every dense convolution of ``model`` from its redundancy on ``images`` (``B x C x H x W``).

    ``budget`` (``"macs"`` or ``"params"``) with ``target`` in (0, 1]: reach that share of the model's total.
    ``tolerance``: the highest risk taken without a budget. See the module docstring for the candidates.
    """
    nn_module("model", model)
    fraction("tolerance", tolerance)
    if budget is not None:
        choice("budget", budget, BUDGETS)
        if target is None:
            raise ValueError("a budget needs a target share of the model, e.g. target=0.7")
        fraction("target", target, low_open=True)
    elif target is not None:
        raise ValueError("target needs a budget: 'macs' or 'params'")
    evidence = measure_evidence(model, images, metric=metric, threshold=threshold, energy=energy)
    size = tuple(images.shape[1:])
    macs_before = deploy_macs(model, size)
    params_before = slimconv.count_params(model)
    dense_costs = {e.name: _layer_cost(e.conv, e.conv, e.input_size) for e in evidence}
    options = {e.name: [c for c in _candidates(e, threshold, energy)  # a candidate must save something
                        if c.params < dense_costs[e.name][0] or c.macs < dense_costs[e.name][1]] for e in evidence}
    currency = budget or "macs"
    chosen: dict[str, _Candidate] = {}
    if budget is None:
        for e in evidence:
            safe = [c for c in options[e.name] if c.risk <= tolerance]
            if safe:
                chosen[e.name] = max(safe, key=lambda c: (_saving(c, dense_costs[e.name], currency),
                                                          _saving(c, dense_costs[e.name], "params"), -c.risk))
    else:
        total_before = macs_before if budget == "macs" else params_before
        goal = target * total_before
        current = total_before

        def gain(name: str, candidate: _Candidate) -> int:
            now = chosen.get(name)
            return _saving(candidate, dense_costs[name], budget) - (
                0 if now is None else _saving(now, dense_costs[name], budget))

        while current > goal:
            moves = [(c.risk, -gain(name, c), name, c) for name in options for c in options[name] if gain(name, c) > 0]
            if not moves:
                break
            _, negative_gain, name, candidate = min(moves, key=lambda move: move[:3])
            chosen[name] = candidate
            current += negative_gain
    proposals = []
    for e in evidence:
        candidate = chosen.get(e.name)
        if candidate is None:
            proposals.append(_proposal(e, None, dense_costs[e.name], _keep_reason(options[e.name], tolerance)))
            continue
        note = None
        if budget is not None and candidate.risk > tolerance:
            note = f"{candidate.reason}; risk {candidate.risk:.3f} > {tolerance:g}, taken for the {target:.0%} " \
                   f"{budget} budget"
        proposals.append(_proposal(e, candidate, dense_costs[e.name], note))
    return SlimmingPlan(proposals, params_before, macs_before, budget, target, tolerance)


def edit_plan(plan: SlimmingPlan, model: nn.Module, choices: Mapping[str, tuple[str, Mapping[str, Any]]]) -> \
        SlimmingPlan:
    """``plan`` with the layers of ``choices`` (name -> (op or ``"keep"``, options)) set by hand, their
    parameters and MACs predicted again; ``ValueError`` for an entry ``convert`` would refuse."""
    nn_module("model", model)
    by_name = {p.name: p for p in plan.layers}
    unknown = sorted(set(choices) - set(by_name))
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is not a layer of the plan")
    changes = {name: (op, dict(options)) for name, (op, options) in choices.items()
               if (op, dict(options)) != (by_name[name].op, by_name[name].options)}
    replaced = {name: entry for name, entry in changes.items() if entry[0] != KEEP}
    if replaced:
        check_plan(model, replaced)
    layers = []
    for proposal in plan.layers:
        if proposal.name not in changes:
            layers.append(proposal)
            continue
        op, options = changes[proposal.name]
        if op == KEEP:
            layers.append(replace(proposal, op=KEEP, options={}, reason="kept by hand", risk=0.0,
                                  params_after=proposal.params_before, macs_after=proposal.macs_before))
            continue
        conv = model.get_submodule(proposal.name)
        params, macs = _layer_cost(_built(conv, op, options), conv, proposal.input_size)
        layers.append(replace(proposal, op=op, options=options, reason="set by hand", risk=float("nan"),
                              params_after=params, macs_after=macs))
    return replace(plan, layers=layers)
