"""Live operator benchmarks: the benchmark engine's own code, run with an ``st.progress`` bar, and its chart."""

from __future__ import annotations

import copy
from dataclasses import asdict

import altair as alt
import pandas as pd
import streamlit as st
from torch import nn

from slimconv.bench import BenchRow, BenchSetup, Comparison, model_comparison, run_comparison
from slimconv.op_spec import check_op, parse_ops

from .model_lock import exclusive
from .models import LoadedModel

#: BenchRow fields shown in the app's table, in order ("what" is added: which form a row is).
TABLE_COLUMNS = ("label", "what", "ratio", "ratio_low", "ratio_high", "noisy", "mac_ratio", "ideal_share", "params",
                 "training_only_params", "macs", "median_ms", "iqr_ms", "gflops_per_s", "rounds",
                 "peak_memory_bytes", "verdict", "error")
#: What each form of a row is, in the words the table and the chart use.
FORM_WORDS = {
    "dense": "baseline (dense)",
    "train": "training form (not what you deploy)",
    "deploy": "deploy form (what you ship)",
    "bound": "limit: replaced layers free",
}
#: Torchvision architectures offered for a whole-model comparison (random weights: speed does not need trained ones).
ARCHITECTURES = ("resnet50", "resnet18", "mobilenet_v2", "vgg11")
#: Where the ratio chart's axis ends at most (a noisy interval beyond it is cut there).
CHART_MAX_RATIO = 3.0


def operator_specs(text: str, in_channels: int = 64, out_channels: int = 64, kernel_size: int = 3
                   ) -> list[tuple[str, dict]]:
    """``(op, options)`` for each spec of ``text`` in the CLI's syntax (``"spconv:alpha=0.5 ghost"``), each
    checked on the meta device for that geometry; ``ValueError`` naming what is wrong."""
    ops = parse_ops(text)
    if not ops:
        raise ValueError("name at least one operator, e.g. spconv:alpha=0.5 ghost")
    for op, options in ops:
        check_op(op, options, in_channels, out_channels, kernel_size)
    return ops


def loaded_model_comparison(loaded: LoadedModel, ops: list[tuple[str, dict]], *, policy: str | None,
                            batch_size: int, forms: list[str]) -> Comparison:
    """The sidebar's model against its conversions to ``ops``, on its own input size. Each candidate is
    built from a copy taken under the model's lock: the cached model is never touched."""

    def dense_copy() -> nn.Module:
        with exclusive(loaded.model):
            return copy.deepcopy(loaded.model).cpu().eval()

    channels, height, _ = loaded.input_size
    return model_comparison(dense_copy, ops, policy=policy, size=height, in_chans=channels, batch_size=batch_size,
                            forms=forms, label=loaded.label)


def run_with_progress(comparison: Comparison, setup: BenchSetup) -> list[BenchRow]:
    """Time ``comparison`` (failed candidates, out-of-memory included, come back as rows with ``error``)."""
    bar = st.progress(0.0, text="Starting ...")

    def report(fraction: float, text: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=text)

    try:
        return run_comparison(comparison, setup, progress=report)
    finally:
        bar.empty()


def rows_table(rows: list[BenchRow]) -> pd.DataFrame:
    """The rows as a table, ``what`` saying which form each row is."""
    table = pd.DataFrame([asdict(row) for row in rows], columns=list(asdict(rows[0])))
    table["what"] = table["form"].map(FORM_WORDS)
    return table.loc[:, list(TABLE_COLUMNS)]


def ratio_chart(table: pd.DataFrame) -> alt.LayerChart:
    """Time over the baseline's per candidate: bars sorted by ratio with full labels, the 95% interval as a
    rule, a 1x line, colour by form; a noisy ratio says so in its label."""
    measured = table[table["error"].isna() & (table.index > 0)].copy()
    measured["candidate"] = measured["label"] + measured["noisy"].map({True: "  (NOISY)", False: ""})
    order = measured.sort_values("ratio")["candidate"].tolist()
    y = alt.Y("candidate:N", sort=order, title=None, axis=alt.Axis(labelLimit=0, labelFontSize=13, labelOverlap=False))
    # A very noisy interval would squash every bar: the axis ends at 3x at most, longer rules are cut there.
    right = max(1.5, min(CHART_MAX_RATIO, 1.15 * float(measured["ratio_high"].max())))
    x_scale = alt.Scale(domain=[0, right], clamp=True)
    base = alt.Chart(measured)
    bars = base.mark_bar().encode(
        x=alt.X("ratio:Q", scale=x_scale,
                title=f"time over {table['label'].iloc[0]}'s (paired per round; < 1 is faster)"),
        y=y,
        color=alt.Color("what:N", title="form", legend=alt.Legend(orient="bottom", labelLimit=0)),
        tooltip=["label", "what", alt.Tooltip("ratio:Q", format=".3f"), alt.Tooltip("ratio_low:Q", format=".3f"),
                 alt.Tooltip("ratio_high:Q", format=".3f"), alt.Tooltip("mac_ratio:Q", format=".3f"), "verdict"],
    )
    interval = base.mark_rule(color="black", strokeWidth=2).encode(
        x=alt.X("ratio_low:Q", scale=x_scale), x2="ratio_high:Q", y=y)
    one = alt.Chart(pd.DataFrame({"ratio": [1.0]})).mark_rule(strokeDash=[4, 4], color="grey").encode(
        x=alt.X("ratio:Q", scale=x_scale))
    return (bars + interval + one).properties(height=alt.Step(30))
