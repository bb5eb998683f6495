"""Small real checkpoints for the app's tests: the zoo's architecture with Fashion-MNIST's input spec."""

from __future__ import annotations

from pathlib import Path

import torch

import slimconv

FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")
FASHION_INPUT = slimconv.InputSpec(in_chans=1, resize=28, crop=28, pad=2, mean=(0.2860,), std=(0.3530,))
#: Checkpoints written by :func:`write_test_zoo`: file stem -> operator (``None``: dense). The dense one
#: sorts first, so it is the app's default model.
TEST_ZOO = {"resnet20-fashion": None, "resnet20-linearconv-fashion": "linearconv"}
#: Four different models, one per session of the concurrent-sessions test.
FOUR_MODEL_ZOO = {**TEST_ZOO, "resnet20-hetconv-fashion": "hetconv", "resnet20-pedconv-fashion": "pedconv"}


def write_test_zoo(folder: Path, zoo: dict[str, str | None] = TEST_ZOO) -> Path:
    """Write the checkpoints of ``zoo`` (file stem -> operator; random weights, seeded) into ``folder``;
    return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, op in zoo.items():
        torch.manual_seed(0)
        model = slimconv.create_model("resnet20", op=op, in_chans=1).eval()
        meta = slimconv.CheckpointMeta.for_model(
            model, model_name="resnet20", op=op, policy=None, options={}, input=FASHION_INPUT,
            classes=FASHION_CLASSES, dataset="fashion-mnist", metrics={"test_accuracy": 0.1},
        )
        slimconv.save_checkpoint(folder / f"{stem}.pt", model, meta)
    return folder
