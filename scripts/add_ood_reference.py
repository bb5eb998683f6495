"""Add the out-of-distribution reference (``analysis.ood``) to zoo checkpoints' metadata, weights unchanged.

    python scripts/add_ood_reference.py slimconv/models/pretrained/*.pt [--fit-images 5000] [--test-images 5000]

For each checkpoint: the penultimate features of ``--fit-images`` training images (no augmentation: the
checkpoint's own preprocessing) fit the class means and covariance, the distances of ``--test-images``
test images give the quantiles; the file is rewritten with only the metadata key ``ood`` added or
replaced, then read back and every tensor compared with the original (the script fails if any differs).
``scripts/train_zoo.sh`` runs it on every model it builds.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from analysis.ood import fit_reference, penultimate_features, penultimate_layer
from slimconv.pretrained import build_model, read_checkpoint, save_checkpoint
from slimconv.train.datasets import load_data

BATCH = 500


def _features(model: torch.nn.Module, dataset, count: int, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` images of ``dataset`` (its first ones) -> ``count x D`` features and their labels."""
    features, labels = [], []
    for images, targets in DataLoader(Subset(dataset, range(min(count, len(dataset)))), batch_size=BATCH):
        features.append(penultimate_features(model, images, layer)[1])
        labels.append(targets)
    return torch.cat(features), torch.cat(labels)


def add_reference(path: Path, data_dir: str, fit_images: int, test_images: int) -> str:
    """Rewrite checkpoint ``path`` with the ``ood`` metadata; returns a one-line summary."""
    contents = read_checkpoint(path)
    meta = contents.meta
    model = build_model(meta, path.name)
    model.load_state_dict(contents.state_dict, strict=True)
    model.eval()
    data = load_data(meta.dataset, data_dir, download=False)
    data.train.transform = meta.input.to_tensor  # the checkpoint's evaluation preprocessing, no augmentation
    layer = penultimate_layer(model)
    started = time.perf_counter()
    train_features, train_labels = _features(model, data.train, fit_images, layer)
    test_features, _ = _features(model, data.test, test_images, layer)
    reference = fit_reference(layer, train_features, train_labels, test_features, meta.num_classes)
    save_checkpoint(path, contents.state_dict, dataclasses.replace(meta, ood=reference.to_meta()),
                    training=contents.training)
    written = read_checkpoint(path)
    same = written.state_dict.keys() == contents.state_dict.keys() and all(
        torch.equal(written.state_dict[name], tensor) for name, tensor in contents.state_dict.items())
    unchanged = dataclasses.replace(written.meta, ood=None) == dataclasses.replace(meta, ood=None)
    if not (same and unchanged):
        raise SystemExit(f"{path}: the rewritten file's weights or other metadata differ from the original")
    quantiles = ", ".join(f"q{level:g} {value:.1f}" for level, value in zip(reference.levels, reference.quantiles,
                                                                            strict=True))
    return (f"{path.name}: {len(train_features)} fit / {len(test_features)} test images in "
            f"{time.perf_counter() - started:.0f} s; distances {quantiles}; weights unchanged")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--data-dir", default="data", help="where the dataset is (Debian's Fashion-MNIST is found)")
    parser.add_argument("--fit-images", type=int, default=5000)
    parser.add_argument("--test-images", type=int, default=5000)
    args = parser.parse_args(argv)
    for path in args.checkpoints:
        print(add_reference(path, args.data_dir, args.fit_images, args.test_images), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
