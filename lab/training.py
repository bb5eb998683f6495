"""The Train page's glue: a short run of ``slimconv.train`` with a live curve, registered as a model."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from slimconv.train import TrainConfig, TrainResult, train
from slimconv.train.finetune import DATA_DIR

from .selection import trained_checkpoints

HISTORY_KEY = "train_history"
FINISHED_KEY = "train_finished"
LOSS_COLUMNS = ["train_loss", "test_loss"]
ACCURACY_COLUMNS = ["train_accuracy", "test_accuracy"]
#: The Train page's default run: Adam at 3e-3 without warm-up, batch 32, 6000 images for 2 epochs. resnet20
#: learns about 80% test accuracy per 12,000 images seen, whatever the split into images and epochs (2000 x 3:
#: 74%, 5000 x 2: 80%, 6000 x 2: 82% in 40 s on 2 quiet cores; docs/app.md), so the default sees enough.
LEARNING_RATE = 3e-3
BATCH_SIZE = 32
DEFAULT_IMAGES = 6000
DEFAULT_EPOCHS = 2


def history_table(history: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(history).set_index("epoch")


def _curves(history: list[dict[str, Any]], columns: list[str], title: str, scale: alt.Scale) -> alt.Chart:
    long = history_table(history)[columns].reset_index().melt("epoch", var_name="curve")
    # 280 px each: both charts and their legends fit the page's column in a 1400-px window.
    return alt.Chart(long, height=220, width=280).mark_line(point=True).encode(
        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")), y=alt.Y("value:Q", title=title, scale=scale),
        color=alt.Color("curve:N"))


def curves_chart(history: list[dict[str, Any]]) -> alt.HConcatChart:
    """Loss and accuracy per epoch, each on its own axis (accuracy 0..1), lines with points (one per epoch)."""
    return alt.hconcat(_curves(history, LOSS_COLUMNS, "loss (cross-entropy)", alt.Scale(zero=True)),
                       _curves(history, ACCURACY_COLUMNS, "accuracy", alt.Scale(domain=[0, 1]))
                       ).resolve_scale(color="independent")


def page_config(model: str, op: str | None, subset: int, epochs: int, out: Path) -> TrainConfig:
    """The Train page's run: ``subset`` Fashion-MNIST images (and as many test images) for ``epochs`` epochs."""
    return TrainConfig(model=model, op=op, dataset="fashion-mnist", data_dir=str(DATA_DIR), download=True,
                       subset=subset, epochs=epochs, batch_size=BATCH_SIZE, optimizer="adam", lr=LEARNING_RATE,
                       warmup_epochs=0.0, out=str(out), progress=False)


def train_live(label: str, model: str, op: str | None, subset: int, epochs: int) -> TrainResult:
    """Train ``model`` (with operator ``op``) on ``subset`` Fashion-MNIST images for ``epochs`` epochs,
    drawing the loss/accuracy curves after each epoch. After each epoch the run's checkpoint is
    selectable in the sidebar as ``label`` ("Trained here"); a rerun (the Stop button) ends the run
    after the current epoch with that checkpoint kept."""
    out = Path(tempfile.mkdtemp(prefix="slimconv-train-"))
    config = page_config(model, op, subset, epochs, out)
    bar = st.progress(0.0, text=f"Loading Fashion-MNIST, then epoch 1/{epochs} "
                                 "(the time left is estimated after it) ...")
    curves = st.empty()
    history: list[dict[str, Any]] = []
    st.session_state[HISTORY_KEY] = (label, history)
    st.session_state.pop(FINISHED_KEY, None)

    def on_epoch_end(record: dict[str, Any]) -> None:
        history.append(record)
        trained_checkpoints()[label] = str(out / "checkpoint.pt")
        done = len(history)
        left = (time.perf_counter() - start) / done * (epochs - done)
        bar.progress(done / epochs, text=f"epoch {done}/{epochs}: test accuracy {record['test_accuracy']:.1%}"
                                         + (f", about {left:.0f} s left" if done < epochs else ""))
        curves.altair_chart(curves_chart(history))

    start = time.perf_counter()
    result = train(config, on_epoch_end=on_epoch_end)
    trained_checkpoints()[label] = str(result.model_path)
    st.session_state[FINISHED_KEY] = (f"{label}: test accuracy {result.metrics['test_accuracy']:.1%} after "
                                      f"{result.seconds:.0f} s. Choose it in the sidebar under *Trained here*.")
    return result
