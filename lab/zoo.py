"""The zoo as a table: each checkpoint's recorded accuracy, parameters and MACs, and live latency."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

import slimconv

from .model_lock import exclusive
from .models import LoadedModel, bundled_names, load_bundled

LATENCY_RUN_TIME_S = 0.2


def zoo_models(device: str) -> list[LoadedModel]:
    return [load_bundled(name, device) for name in bundled_names()]


#: Fewest images for the debiased CKA estimator (unbiased HSIC needs n >= 4).
DEBIASED_MIN_IMAGES = 4


def cka_estimator(num_images: int, debiased: bool | None) -> tuple[bool, str]:
    """The CKA estimator for ``num_images`` images (``debiased=None``: chosen by the count) and why, in words."""
    if debiased is None:
        debiased = True  # the better estimator wherever it is defined
    if debiased and num_images < DEBIASED_MIN_IMAGES:
        return False, (f"Biased estimator: the debiased one needs at least {DEBIASED_MIN_IMAGES} images and there "
                       f"are {num_images}. With so few images any two layers score near 1: add images.")
    if debiased:
        return True, (f"Debiased estimator on {num_images} images: the plain one is inflated towards 1 when a layer "
                      "has far more features than there are images, as here.")
    return False, (f"Biased estimator on {num_images} images (as in Kornblith et al.): with fewer images than "
                   "features it reads high for any two layers; compare cells with each other, not with 1.")


@st.cache_data(max_entries=32, show_spinner=False)
def _deployed_count(model_key: str, _loaded: LoadedModel) -> int:
    with exclusive(_loaded.model):
        return slimconv.count_params(slimconv.deploy_form(_loaded.model))


def _deployed_params(loaded: LoadedModel) -> int:
    return _deployed_count(loaded.key, loaded)


def zoo_table(models: list[LoadedModel]) -> pd.DataFrame:
    """One row per checkpoint: its recorded test accuracy, parameters of the training form (as recorded) and of
    the deployed form (operators fused: FLGC's are fewer), and deploy-form MACs."""
    return pd.DataFrame([
        {"checkpoint": loaded.label, "model": loaded.meta.model, "operator": loaded.meta.op or "conv2d",
         "dataset": loaded.meta.dataset, "test accuracy": loaded.meta.metrics.get("test_accuracy"),
         "params (training form)": loaded.meta.params, "params (deployed)": _deployed_params(loaded),
         "MACs (deployed)": loaded.meta.macs}
        for loaded in models
    ])


def measured_latency(models: list[LoadedModel]) -> list[slimconv.LatencyResult]:
    """Forward latency (batch 1) of each model's deploy form on its device, with a progress bar."""
    bar = st.progress(0.0, text="Timing ...")
    results = []
    for done, loaded in enumerate(models):
        bar.progress(done / len(models), text=f"Timing {loaded.label} ...")
        with exclusive(loaded.model):  # timed alone on it: no other session's hooks fire in its runs
            result = slimconv.measure_latency(slimconv.deploy_form(loaded.model),
                                              loaded.input_size, device=loaded.device,
                                              min_run_time_s=LATENCY_RUN_TIME_S)
        results.append(result)
    bar.empty()
    return results


def latency_column(names: Sequence[str], results: list[slimconv.LatencyResult]) -> tuple[list[str], str]:
    """Each result as its median with its 95% interval ("~" before a noisy one: never a plain number), and a
    line saying how it was measured and which results (of the models ``names``) are noisy and why."""
    cells = [f"{'~' if r.noisy else ''}{r.median_ms:.2f} [{r.low_ms:.2f}, {r.high_ms:.2f}]" for r in results]
    first = results[0]
    line = (f"Latency: median forward time of each deploy form at batch 1 with its 95% interval, on "
            f"{first.device_name}, {first.threads} thread(s), {first.dtype}.")
    noisy = [(name, r) for name, r in zip(names, results, strict=True) if r.noisy]
    if noisy:
        line += f" Noisy (~): {', '.join(name for name, _ in noisy)}. The first's verdict: {noisy[0][1].verdict}"
    else:
        line += " Every result is stable."
    return cells, line
