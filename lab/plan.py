"""The Plan page's glue: the proposal cached per model, images and budget; the editable table and the plan
read back from it; the planned model built by ``slimconv.convert``; its outcome, latency and fine-tune.

The planned model lives in the session (:data:`APPLIED_KEY`), never in a shared cache: it belongs to one
user's edits, and the fine-tune trains a copy of it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
import torch

import analysis
import slimconv
from slimconv.op_spec import parse_op

from .cached_results import MAX_CACHED_RESULTS, image_keys
from .device_fallback import run_models
from .images import ImageItem, load_sample
from .models import LoadedModel
from .selection import model_batch

APPLIED_KEY = "plan_applied"
#: Columns of the editable table that the user may change; the others are the proposal's.
EDITABLE = ("op", "options")


@dataclass(frozen=True)
class AppliedPlan:
    """A plan applied to ``original`` (by its key): the edited plan, the converted model and what it did."""

    original_key: str
    plan: analysis.SlimmingPlan
    planned: LoadedModel
    report: slimconv.ConvertReport
    outcome: analysis.PlanOutcome
    evaluation: str


@st.cache_data(max_entries=MAX_CACHED_RESULTS, show_spinner="Measuring the redundancy of every layer ...")
def _proposal(model_key: str, keys: tuple[str, ...], budget: str | None, target: float | None,
              _model: LoadedModel, _images: Sequence[ImageItem]) -> analysis.SlimmingPlan:
    return run_models("proposing a plan", lambda loaded: analysis.propose_plan(
        loaded.model, model_batch(loaded, list(_images)), budget=budget, target=target), _model)


def proposal(model: LoadedModel, images: Sequence[ImageItem], budget: str | None,
             target: float | None) -> analysis.SlimmingPlan:
    """:func:`analysis.propose_plan` for ``model`` on ``images``, steered by ``budget``/``target`` (or not)."""
    return _proposal(model.key, image_keys(images), budget, target, model, images)


def plan_table(plan: analysis.SlimmingPlan) -> pd.DataFrame:
    """One row per convolution: its operator and options (editable), risk, predicted params/MACs, reason."""
    return pd.DataFrame([{
        "layer": p.name, "conv": p.layer, "op": p.op, "options": slimconv.plan.options_text(p.options),
        "risk": None if math.isnan(p.risk) else round(p.risk, 3), "params before": p.params_before,
        "params after": p.params_after, "MACs before": p.macs_before, "MACs after": p.macs_after, "reason": p.reason,
    } for p in plan.layers])


def _options(op: str, text: object) -> dict[str, Any]:
    """``"alpha=0.5,gwc_groups=2"`` -> ``{"alpha": 0.5, "gwc_groups": 2}`` (the syntax of ``slimconv.op_spec``)."""
    text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text).strip()
    return parse_op(f"{op}:{text}")[1]


def edited_plan(plan: analysis.SlimmingPlan, model: LoadedModel, table: pd.DataFrame) -> analysis.SlimmingPlan:
    """``plan`` with the operators and options of the edited ``table`` (rows in the plan's order), each edited
    layer predicted again; ``ValueError`` naming the layer for an entry ``convert`` would refuse."""
    choices = {}
    for proposal_row, row in zip(plan.layers, table.itertuples(index=False), strict=True):
        op = str(row.op or analysis.KEEP)
        if op not in (analysis.KEEP, *slimconv.list_ops()):
            raise ValueError(f"{proposal_row.name}: {op!r} is not an operator; choose keep or one of "
                             f"{', '.join(slimconv.list_ops())}")
        try:
            options = {} if op == analysis.KEEP else _options(op, row.options)
        except ValueError as error:
            raise ValueError(f"{proposal_row.name}: {error}") from None
        choices[proposal_row.name] = (op, options)
    return analysis.edit_plan(plan, model.model, choices)


def hand_edits(proposed: analysis.SlimmingPlan, plan: analysis.SlimmingPlan) -> dict[str, tuple[str, dict[str, Any]]]:
    """The layers where ``plan`` (edited from ``proposed``) differs: name -> (operator or ``"keep"``, options)."""
    return {mine.name: (mine.op, dict(mine.options)) for mine, theirs in zip(plan.layers, proposed.layers, strict=True)
            if (mine.op, mine.options) != (theirs.op, theirs.options)}


def evaluation_kind(model: LoadedModel) -> str:
    """``"fashion"``: the outcome is measured on the bundled Fashion-MNIST test images (labelled), for a model of
    those classes and grey inputs; ``"images"``: on the sidebar's images."""
    return "fashion" if analysis.has_sample_classes(model.classes) and tuple(model.input_size)[0] == 1 else "images"


def evaluation_set(model: LoadedModel, images: Sequence[ImageItem]) -> tuple[list[ImageItem], torch.Tensor | None,
                                                                             str]:
    """The images the outcome is measured on, their labels and a sentence saying which they are: the bundled
    Fashion-MNIST test images (labelled) for a model of those classes, else ``images`` (no labels)."""
    if evaluation_kind(model) == "fashion":
        names = analysis.fashion_sample_names()
        return ([load_sample(name) for name in names], analysis.sample_labels(names, model.classes),
                f"the {len(names)} bundled Fashion-MNIST test images")
    return list(images), None, (f"the {len(images)} images of the sidebar (accuracy needs labelled images: the "
                                "bundled Fashion-MNIST ones, for a model of those classes)")


def apply_plan(model: LoadedModel, plan: analysis.SlimmingPlan, images: Sequence[ImageItem]) -> AppliedPlan:
    """Convert ``model`` by ``plan`` (a copy; ``model`` is untouched) and measure the outcome, stored in the
    session under :data:`APPLIED_KEY` and returned."""
    mapping = plan.mapping()
    if not mapping:
        raise ValueError("the plan keeps every layer, so there is nothing to apply; change an operator in the "
                         "table or lower the budget")
    evaluated, labels, evaluation = evaluation_set(model, images)

    def convert_and_measure(loaded: LoadedModel) -> tuple[torch.nn.Module, slimconv.ConvertReport,
                                                          analysis.PlanOutcome]:
        converted, report = slimconv.convert(loaded.model, mapping, return_report=True)
        converted.eval()
        outcome = analysis.plan_outcome(loaded.model, converted, model_batch(loaded, evaluated), labels)
        return converted, report, outcome

    converted, report, outcome = run_models("applying the plan", convert_and_measure, model)
    planned = LoadedModel(key=f"{model.key}+plan:{_digest(mapping)}", label=f"{model.label} (planned)",
                          model=converted, preprocess=model.preprocess, classes=model.classes,
                          input_size=model.input_size, device=str(next(converted.parameters()).device))
    applied = AppliedPlan(model.key, plan, planned, report, outcome, evaluation)
    st.session_state[APPLIED_KEY] = applied
    return applied


def _digest(mapping: dict) -> str:
    return hashlib.sha256(repr(sorted(mapping.items())).encode()).hexdigest()[:12]


def current_applied(model: LoadedModel) -> AppliedPlan | None:
    """The plan applied in this session to ``model`` (``None``: none yet, or one for another model)."""
    applied = st.session_state.get(APPLIED_KEY)
    return applied if applied is not None and applied.original_key == model.key else None


def cka_chart(table: pd.DataFrame) -> alt.Chart:
    """``analysis.tables.plan_cka_table`` as horizontal bars in forward order: every layer name in full on its own
    row (a vertical bar chart drops or cuts the names of a deep model), replaced layers in orange."""
    shown = table.assign(layer_kind=table["replaced"].map({True: "replaced", False: "kept"}))
    return alt.Chart(shown).mark_bar().encode(
        y=alt.Y("layer:N", sort=None, title=None, axis=alt.Axis(labelLimit=0, labelOverlap=False, labelFontSize=12)),
        x=alt.X("CKA to the original:Q", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("layer_kind:N", title=None, scale=alt.Scale(domain=["kept", "replaced"],
                                                                     range=["#4c78a8", "#f58518"]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["layer", alt.Tooltip("CKA to the original:Q", format=".3f"), "layer_kind"],
    ).properties(height=alt.Step(18))
