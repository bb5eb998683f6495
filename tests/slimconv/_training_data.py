"""Tiny datasets and settings for the trainer and checkpoint tests (IDX files written on the fly)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from slimconv.train import TrainConfig


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8) as a gzip-compressed IDX file."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def class_images(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Noisy ``size x size`` images with a bright row whose position gives the class (learnable)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(len(labels), size, size))
    for image, label in zip(images, labels, strict=True):
        image[label % size] = 255
    return images.astype(np.uint8)


def make_fashion_folder(root: Path, *, train: int = 64, test: int = 32, size: int = 12) -> Path:
    """``root/fashion-mnist`` with the four IDX files of a tiny 10-class set; returns ``root``."""
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for split, count, seed in (("train", train, 0), ("t10k", test, 1)):
        labels = np.arange(count) % 10
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", class_images(labels, size, seed))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    return root


def tiny_config(out: Path, data_dir: Path, **changes: Any) -> TrainConfig:
    """ResNet-20 on the tiny set: 16x16 inputs, batches of 16, one thread, no progress bars."""
    values: dict[str, Any] = dict(model="resnet20", dataset="fashion-mnist", data_dir=str(data_dir), download=False,
                                  epochs=2, batch_size=16, lr=0.05, warmup_epochs=0.5, threads=1, progress=False,
                                  out=str(out))
    values.update(changes)
    return TrainConfig(**values)


def cli_arguments(config: TrainConfig) -> list[str]:
    """The command line that gives ``config`` (for the subprocess and CLI tests)."""
    return ["--model", config.model, "--dataset", config.dataset, "--data-dir", config.data_dir, "--no-download",
            "--epochs", str(config.epochs), "--batch-size", str(config.batch_size), "--lr", str(config.lr),
            "--warmup-epochs", str(config.warmup_epochs), "--threads", str(config.threads), "--no-progress",
            "--out", config.out]
