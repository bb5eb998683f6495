"""Training data: Fashion-MNIST, MNIST, CIFAR-10/100, SVHN and any image folder, with their recipes.

Augmentation per dataset (training only; evaluation is the checkpoint's ``InputSpec`` preprocessing):

- ``fashion-mnist``: 28x28 padded to 32x32 with black (the CIFAR zoo's input size), random crop
  32 with 2 px padding (shifts of up to 2 px), horizontal flip (garments are left-right symmetric).
- ``mnist``: the same padding and crop, no flip (digits are not symmetric).
- ``cifar10``, ``cifar100``: random crop 32 with 4 px padding and horizontal flip (He et al. 2016).
- ``svhn``: random crop 32 with 4 px padding, no flip (digits).
- ``imagefolder``: ``<data-dir>/train/<class>/*`` and ``<data-dir>/test/<class>/*`` (or ``val``);
  RandomResizedCrop to ``--image-size`` and flip; evaluation resizes the shorter side to
  ``image_size / 0.875`` and center-crops (the usual ImageNet recipe).

Fashion-MNIST and MNIST are read from IDX files (``<data-dir>/fashion-mnist/``, torchvision's
``<data-dir>/FashionMNIST/raw/``, or Debian's ``/usr/share/datasets/fashion-mnist``), downloaded
with torchvision when none is found. The other datasets use torchvision's classes, which download
into ``<data-dir>`` when the files are missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from torch.utils.data import Dataset, Subset

from ..errors import DatasetUnavailableError
from ..pretrained import InputSpec
from .idx import IdxImages, has_idx_files
from .transforms import Augmentation, TrainTransform

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DATASETS = ("fashion-mnist", "mnist", "cifar10", "cifar100", "svhn", "imagefolder")
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_EVAL_CROP_FRACTION = 0.875


@dataclass(frozen=True)
class _Recipe:
    in_chans: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    pad: int
    augmentation: Augmentation


# Channel statistics of each training set (published values; Fashion-MNIST's recomputed from the IDX files).
_RECIPES = {
    "fashion-mnist": _Recipe(1, (0.2860,), (0.3530,), 2, Augmentation(crop_padding=2, flip=True)),
    "mnist": _Recipe(1, (0.1307,), (0.3081,), 2, Augmentation(crop_padding=2)),
    "cifar10": _Recipe(3, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 0, Augmentation(4, flip=True)),
    "cifar100": _Recipe(3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 0, Augmentation(4, flip=True)),
    "svhn": _Recipe(3, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), 0, Augmentation(4)),
}


@dataclass
class TrainData:
    """Both splits with their transforms, the class names and the input spec of the model."""

    name: str
    train: Dataset
    test: Dataset
    classes: tuple[str, ...]
    input: InputSpec


def _download_error(name: str, root: Path, error: Exception) -> DatasetUnavailableError:
    return DatasetUnavailableError(
        f"{name} is not in {root} and could not be downloaded ({type(error).__name__}: {error}). Offline? Run "
        "once on a machine with internet (torchvision fetches it into --data-dir) and copy that folder here"
    )


def _idx_folder(name: str, root: Path, download: bool) -> Path:
    torchvision_class = torchvision.datasets.FashionMNIST if name == "fashion-mnist" else torchvision.datasets.MNIST
    candidates = [root / name, root / torchvision_class.__name__ / "raw"]
    if name == "fashion-mnist":
        candidates.append(DEBIAN_FASHION_MNIST)
    for folder in candidates:
        if has_idx_files(folder):
            return folder
    if not download:
        raise DatasetUnavailableError(f"no {name} IDX files in {', '.join(map(str, candidates))}; allow --download")
    try:
        torchvision_class(root=str(root), train=True, download=True)
    except (OSError, RuntimeError) as error:  # URLError is an OSError
        raise _download_error(name, root, error) from None
    return candidates[1]


def _torchvision_split(name: str, root: Path, train: bool, download: bool, transform: Callable) -> Dataset:
    try:
        if name == "svhn":
            return torchvision.datasets.SVHN(str(root), split="train" if train else "test", download=download,
                                             transform=transform)
        dataset_class = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
        return dataset_class(str(root), train=train, download=download, transform=transform)
    except ImportError as error:
        raise DatasetUnavailableError(f"{name} needs {error.name} to read its files: pip install {error.name}") \
            from None
    except (OSError, RuntimeError) as error:
        raise _download_error(name, root, error) from None


def _classes(name: str, dataset: Dataset) -> tuple[str, ...]:
    if name == "svhn":
        return tuple(str(digit) for digit in range(10))
    if name == "fashion-mnist":
        return tuple(torchvision.datasets.FashionMNIST.classes)
    if name == "mnist":
        return tuple(torchvision.datasets.MNIST.classes)
    return tuple(dataset.classes)


def _image_folder(root: Path, image_size: int, in_chans: int) -> TrainData:
    test_root = next((root / sub for sub in ("test", "val") if (root / sub).is_dir()), None)
    if not (root / "train").is_dir() or test_root is None:
        raise DatasetUnavailableError(f"imagefolder needs {root}/train/<class>/ and {root}/test/<class>/ (or val/)")
    mean, std = (_IMAGENET_MEAN, _IMAGENET_STD) if in_chans == 3 else ((0.449,), (0.226,))  # luma of ImageNet's
    spec = InputSpec(in_chans, round(image_size / _EVAL_CROP_FRACTION), image_size, 0, mean, std)
    train = torchvision.datasets.ImageFolder(str(root / "train"),
                                             transform=TrainTransform(spec, Augmentation(flip=True, resized_crop=True)))
    test = torchvision.datasets.ImageFolder(str(test_root), transform=spec.to_tensor)
    if train.classes != test.classes:
        raise DatasetUnavailableError(f"{root}/train and {test_root} have different class folders: "
                                      f"{train.classes} vs {test.classes}")
    return TrainData("imagefolder", train, test, tuple(train.classes), spec)


def load_data(name: str, root: str | Path, *, download: bool = True, image_size: int = 32,
              in_chans: int | None = None) -> TrainData:
    """Both splits of dataset ``name`` (see ``DATASETS``) from ``root``, with their transforms.

    ``image_size`` and ``in_chans`` (default 3) apply to ``imagefolder`` only; the other datasets
    have fixed ones. Raises ``DatasetUnavailableError`` when the data can be neither found nor downloaded.
    """
    root = Path(root)
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "imagefolder":
        return _image_folder(root, image_size, 3 if in_chans is None else in_chans)
    if in_chans is not None and in_chans != _RECIPES[name].in_chans:
        raise ValueError(f"{name} has {_RECIPES[name].in_chans} channel(s); --in-chans is for imagefolder")
    recipe = _RECIPES[name]
    if name in ("fashion-mnist", "mnist"):
        folder = _idx_folder(name, root, download)
        probe = IdxImages(folder, "test")
        side = min(probe.images.shape[1:])
        spec = InputSpec(recipe.in_chans, side, side, recipe.pad, recipe.mean, recipe.std)
        train: Dataset = IdxImages(folder, "train", TrainTransform(spec, recipe.augmentation))
        probe.transform = spec.to_tensor
        return TrainData(name, train, probe, _classes(name, probe), spec)
    spec = InputSpec(recipe.in_chans, 32, 32, recipe.pad, recipe.mean, recipe.std)
    train = _torchvision_split(name, root, True, download, TrainTransform(spec, recipe.augmentation))
    test = _torchvision_split(name, root, False, download, spec.to_tensor)
    return TrainData(name, train, test, _classes(name, train), spec)


def random_subset(dataset: Dataset, size: int | None, seed: int) -> Dataset:
    """``size`` items of ``dataset`` drawn without replacement (the same ones for the same seed)."""
    if size is None or size >= len(dataset):
        return dataset
    generator = torch.Generator().manual_seed(seed)
    return Subset(dataset, torch.randperm(len(dataset), generator=generator)[:size].sort().values.tolist())
