"""The Plan page's long runs, each with a progress bar: the planned model timed against the original (the
measurement engine), and a short fine-tune of the planned model (the Train page's loop)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

import analysis
from slimconv.bench import BenchRow, BenchSetup
from slimconv.train.finetune import finetune, short_finetune_config

from .benchmark import run_with_progress
from .device_fallback import run_models
from .models import LoadedModel
from .plan import AppliedPlan, evaluation_set
from .selection import model_batch

LATENCY_KEY = "plan_latency_result"
FINETUNE_KEY = "plan_finetune_result"
#: Blocks of this many seconds: a CIFAR-size model at batch 8 runs a few ms, so a block holds several calls.
BLOCK_TIME_S = 0.02


def measure_latency(applied: AppliedPlan, original: LoadedModel, budget_s: float, batch_size: int) -> BenchRow:
    """The planned model's deploy form timed against the original's, interleaved (``budget_s`` at most); the
    planned row (ratio with its interval, noisy, verdict, MAC ratio), kept in the session for this plan."""
    comparison = analysis.latency_comparison(original.model, applied.planned.model, original.input_size,
                                             batch_size=batch_size)
    setup = BenchSetup(device=original.device, budget_s=float(budget_s), block_time_s=BLOCK_TIME_S)
    rows = run_models("timing the planned model", lambda *_: run_with_progress(comparison, setup), original,
                      applied.planned)
    failed = [row for row in rows if row.error]
    if failed:
        raise ValueError(f"{failed[0].label} could not be timed: {failed[0].error}")
    st.session_state[LATENCY_KEY] = (applied.planned.key, batch_size, rows[1])
    return rows[1]


def latency_of(applied: AppliedPlan) -> tuple[int, BenchRow] | None:
    """``(batch size, planned row)`` measured for this applied plan, if any."""
    stored = st.session_state.get(LATENCY_KEY)
    return None if stored is None or stored[0] != applied.planned.key else stored[1:]


def can_finetune(model: LoadedModel) -> bool:
    """Fine-tuning runs on Fashion-MNIST: for a model of its classes and 1 x 32 x 32 inputs (the zoo's)."""
    return analysis.has_sample_classes(model.classes) and tuple(model.input_size) == (1, 32, 32)


@dataclass(frozen=True)
class FinetuneResult:
    planned_key: str
    epochs: int
    subset: int
    history: list[dict[str, Any]]
    outcome: analysis.PlanOutcome


def finetune_planned(applied: AppliedPlan, original: LoadedModel, epochs: int, subset: int) -> FinetuneResult:
    """Train a copy of the planned model for ``epochs`` on ``subset`` Fashion-MNIST training images, a progress
    bar per epoch, then measure it against the original on the same images as the plan's outcome."""
    config = short_finetune_config(epochs, subset, device=applied.planned.device)
    bar = st.progress(0.0, text=f"Fine-tuning: epoch 1 of {epochs} ...")

    def on_epoch_end(record: dict[str, Any]) -> None:
        done = int(record["epoch"])  # counted from 1
        bar.progress(done / epochs, text=f"epoch {done} of {epochs}: test accuracy on {subset} test images "
                                         f"{record['test_accuracy']:.1%}")

    try:
        tuned, history = finetune(applied.planned.model, config, on_epoch_end=on_epoch_end)
    finally:
        bar.empty()
    evaluated, labels, _ = evaluation_set(original, [])
    outcome = run_models("measuring the fine-tuned model", lambda loaded: analysis.plan_outcome(
        loaded.model, tuned, model_batch(loaded, evaluated), labels), original)
    result = FinetuneResult(applied.planned.key, int(epochs), int(subset), history, outcome)
    st.session_state[FINETUNE_KEY] = result
    return result


def finetune_of(applied: AppliedPlan) -> FinetuneResult | None:
    stored = st.session_state.get(FINETUNE_KEY)
    return stored if stored is not None and stored.planned_key == applied.planned.key else None
