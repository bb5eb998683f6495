"""A small reader for IDX files (MNIST, Fashion-MNIST), gzip-compressed or not."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import DatasetUnavailableError

_GZIP_MAGIC = b"\x1f\x8b"
_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
           0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file: magic ``00 00 <type> <ndim>``, ``ndim`` big-endian int32 sizes, data."""
    path = Path(path)
    data = path.read_bytes()
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise DatasetUnavailableError(f"{path} is a damaged gzip file ({error}); download it again") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _DTYPES:
        raise DatasetUnavailableError(f"{path} is not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4)) if ndim else ()
    dtype = _DTYPES[data[2]]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DatasetUnavailableError(f"{path} holds {len(data)} bytes, its header announces {expected}: "
                                      "the file is truncated or damaged; download it again")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def has_idx_files(folder: Path) -> bool:
    """Whether ``folder`` holds the four IDX files of a train/test split (``.gz`` or not)."""
    return all(_idx_file(folder, name) is not None for names in IDX_FILES.values() for name in names)


class IdxImages(Dataset):
    """Images and labels of one split of an IDX folder; items are ``(PIL "L" image, label)``.

    ``images``: ``N x H x W`` uint8; ``transform`` maps the PIL image to the model input.
    """

    def __init__(self, folder: str | Path, split: str, transform=None) -> None:
        if split not in IDX_FILES:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        folder = Path(folder)
        paths = [_idx_file(folder, name) for name in IDX_FILES[split]]
        if None in paths:
            raise DatasetUnavailableError(f"{folder} lacks the {split} IDX files {IDX_FILES[split]}")
        images, labels = (read_idx(path) for path in paths)
        if images.ndim != 3 or images.dtype != np.uint8 or labels.shape != images.shape[:1]:
            raise DatasetUnavailableError(f"{folder}: {split} images {images.shape} {images.dtype} and labels "
                                          f"{labels.shape} do not match an N x H x W uint8 image set")
        self.images = torch.from_numpy(images.copy())
        self.targets = torch.from_numpy(labels.astype(np.int64))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index].numpy())
        return (image if self.transform is None else self.transform(image)), int(self.targets[index])
