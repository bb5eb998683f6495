"""Training data: the IDX reader, dataset lookup and errors, image folders, augmentation, subsets."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import slimconv.train.datasets as datasets_module
from slimconv.errors import DatasetUnavailableError
from slimconv.pretrained import load_checkpoint
from slimconv.train import load_data, train
from slimconv.train.datasets import random_subset
from slimconv.train.idx import IdxImages, read_idx

from ._training_data import make_fashion_folder, tiny_config, write_idx


def test_idx_reader_round_trips_and_rejects_damaged_files(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a.gz", array)), array)
    raw = tmp_path / "raw"
    raw.write_bytes(bytes([0, 0, 0x0B, 1, 0, 0, 0, 2]) + np.array([1, -2], dtype=">i2").tobytes())
    assert read_idx(raw).tolist() == [1, -2]
    raw.write_bytes(raw.read_bytes()[:-1])
    with pytest.raises(DatasetUnavailableError, match="truncated"):
        read_idx(raw)
    raw.write_bytes(b"not an idx file")
    with pytest.raises(DatasetUnavailableError, match="bad magic"):
        read_idx(raw)


@pytest.mark.skipif(
    not datasets_module.DEBIAN_FASHION_MNIST.is_dir(),
    reason="needs Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist; CI installs it)",
)
def test_the_debian_fashion_mnist_files_are_read_directly() -> None:
    test = IdxImages(datasets_module.DEBIAN_FASHION_MNIST, "test")
    assert test.images.shape == (10000, 28, 28) and test.images.dtype == torch.uint8
    assert test.targets.bincount().tolist() == [1000] * 10


def test_fashion_mnist_lookup_order_and_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets_module, "DEBIAN_FASHION_MNIST", tmp_path / "debian")
    with pytest.raises(DatasetUnavailableError, match="no fashion-mnist IDX files"):
        load_data("fashion-mnist", tmp_path / "empty", download=False)
    make_fashion_folder(tmp_path / "debian_parent")
    (tmp_path / "debian_parent" / "fashion-mnist").rename(tmp_path / "debian")
    from_debian = load_data("fashion-mnist", tmp_path / "empty", download=False)
    assert len(from_debian.train) == 64
    data = load_data("fashion-mnist", make_fashion_folder(tmp_path / "own", train=20, test=10), download=False)
    assert len(data.train) == 20 and len(data.test) == 10  # the data dir wins over the system copy
    assert data.classes == tuple(torchvision.datasets.FashionMNIST.classes)
    spec = data.input
    assert (spec.in_chans, spec.resize, spec.crop, spec.pad, spec.input_size) == (1, 12, 12, 2, (1, 16, 16))
    image, label = data.train[3]
    assert image.shape == (1, 16, 16) and label == 3
    evaluated, _ = data.test[0]
    assert torch.equal(evaluated, spec.to_tensor(Image.fromarray(data.test.images[0].numpy())))


def test_failed_download_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets_module, "DEBIAN_FASHION_MNIST", tmp_path / "none")

    def offline(self) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "download", offline)
    with pytest.raises(DatasetUnavailableError, match="could not be downloaded .*Offline"):
        load_data("fashion-mnist", tmp_path, download=True)
    with pytest.raises(DatasetUnavailableError, match=r"cifar10 is not in .*Dataset not found"):
        load_data("cifar10", tmp_path, download=False)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        load_data("imagenet", tmp_path)
    with pytest.raises(ValueError, match="--in-chans is for imagefolder"):
        load_data("cifar10", tmp_path, in_chans=1)


def _image_folder(root: Path, classes: tuple[str, ...], per_class: int) -> Path:
    modes = ("RGB", "L", "RGBA", "P")
    for split in ("train", "test"):
        for index, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                colour = (200 * index, 30 * i, 90)
                image = Image.new("RGB", (20 + i, 24), colour).convert(modes[i % len(modes)])
                image.save(root / split / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_image_folder_trains_and_records_its_classes(tmp_path: Path) -> None:
    root = _image_folder(tmp_path / "folder", ("cat", "dog"), per_class=4)
    data = load_data("imagefolder", root, image_size=16, in_chans=1)
    assert data.classes == ("cat", "dog") and data.input.input_size == (1, 16, 16) and data.input.resize == 18
    assert data.train[0][0].shape == (1, 16, 16) and data.test[0][0].shape == (1, 16, 16)
    result = train(tiny_config(tmp_path / "run", root, dataset="imagefolder", image_size=16, in_chans=1, epochs=1,
                               batch_size=4))
    loaded = load_checkpoint(result.model_path)
    assert loaded.classes == ("cat", "dog") and loaded.meta.dataset == "imagefolder"
    assert loaded.preprocess(Image.new("RGB", (40, 30))).shape == (1, 1, 16, 16)
    (root / "test" / "bird").mkdir()
    (root / "test" / "bird" / "0.png").write_bytes((root / "test" / "cat" / "0.png").read_bytes())
    with pytest.raises(DatasetUnavailableError, match="different class folders"):
        load_data("imagefolder", root)


def test_random_subset_is_reproducible() -> None:
    dataset = list(range(100))
    first, again, other = (random_subset(dataset, 10, seed) for seed in (0, 0, 1))
    assert list(first) == list(again) != list(other) and len(first) == 10 and len(set(first)) == 10
    assert random_subset(dataset, None, 0) is dataset and random_subset(dataset, 500, 0) is dataset
