"""The zoo as a table: each checkpoint's recorded accuracy, parameters and MACs, and live latency."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import slimconv

from .model_lock import exclusive
from .models import LoadedModel, bundled_names, load_bundled

LATENCY_RUN_TIME_S = 0.2


def zoo_models(device: str) -> list[LoadedModel]:
    return [load_bundled(name, device) for name in bundled_names()]


def zoo_table(models: list[LoadedModel]) -> pd.DataFrame:
    """One row per checkpoint: what its metadata records (test accuracy, params, deploy-form MACs)."""
    return pd.DataFrame([
        {"checkpoint": loaded.label, "model": loaded.meta.model, "operator": loaded.meta.op or "conv2d",
         "dataset": loaded.meta.dataset, "test accuracy": loaded.meta.metrics.get("test_accuracy"),
         "params": loaded.meta.params, "MACs": loaded.meta.macs}
        for loaded in models
    ])


def measured_latency(models: list[LoadedModel]) -> list[float]:
    """Median forward latency (ms, batch 1) of each model's deploy form on its device, with a progress bar."""
    bar = st.progress(0.0, text="Timing ...")
    medians = []
    for done, loaded in enumerate(models):
        bar.progress(done / len(models), text=f"Timing {loaded.label} ...")
        with exclusive(loaded.model):  # timed alone on it: no other session's hooks fire in its runs
            result = slimconv.measure_latency(slimconv.deploy_form(loaded.model),
                                              loaded.input_size, device=loaded.device,
                                              min_run_time_s=LATENCY_RUN_TIME_S)
        medians.append(result.median_ms)
    bar.empty()
    return medians
