"""Live operator benchmarks: the benchmark suite's own code, run with an ``st.progress`` bar."""

from __future__ import annotations

import json
from dataclasses import asdict

import pandas as pd
import streamlit as st

from slimconv.bench import BenchRow, BenchSetup, Comparison, run_comparison

#: BenchRow fields shown in the app's table, in order.
TABLE_COLUMNS = ("label", "form", "ratio", "ratio_low", "ratio_high", "noisy", "mac_ratio", "ideal_share", "params",
                 "training_only_params", "macs", "median_ms", "iqr_ms", "gflops_per_s", "rounds", "peak_memory_bytes",
                 "verdict", "error")


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
    """The rows as a table: params, MACs, latency median and IQR, speed-up over the first row, GFLOP/s."""
    return pd.DataFrame([asdict(row) for row in rows], columns=list(asdict(rows[0]))).loc[:, list(TABLE_COLUMNS)]


def operator_options(ops: list[str], options_json: str) -> list[tuple[str, dict]]:
    """``(op, options)`` for each chosen operator, the options read from a JSON object keyed by operator
    (operators it does not name get their defaults); ``ValueError`` for text that is not such an object."""
    try:
        options = json.loads(options_json or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"the operator options are not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(options, dict) or not all(isinstance(value, dict) for value in options.values()):
        raise ValueError('the operator options must be a JSON object like {"spconv": {"alpha": 0.5}}')
    unknown = sorted(set(options) - set(ops))
    if unknown:
        raise ValueError(f"options given for {', '.join(unknown)}, which is not among the chosen operators")
    return [(op, options.get(op, {})) for op in ops]
