"""The input spec of a checkpoint and the preprocessing it implies: PIL image -> normalised tensor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

from .._validate import finite_number, non_negative_int, positive_int, positive_number
from ..image_modes import convert_mode, image_channels


def _per_channel(name: str, values: object, in_chans: int, number: Callable[[str, object], float]) -> tuple[float, ...]:
    """One number per input channel, each checked by ``number``; returned as a tuple of floats."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != in_chans:
        raise ValueError(f"{name} must be a sequence of {in_chans} number(s), one per input channel, got {values!r}")
    return tuple(number(f"{name}[{index}]", value) for index, value in enumerate(values))


# torchvision's resize and center_crop of a PIL image, written with PIL: importing torchvision costs about a
# second of the app's cold start (tests/slimconv/test_checkpoint.py checks these give torchvision's pixels).
def _resize_shorter_side(image: Image.Image, side: int) -> Image.Image:
    """The shorter side to ``side``, the longer one in proportion (rounded down), bilinear (PIL antialiases)."""
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = side, int(side * long / short)
    size = (new_short, new_long) if width <= height else (new_long, new_short)
    return image if size == image.size else image.resize(size, Image.BILINEAR)


def _center_crop(image: Image.Image, side: int) -> Image.Image:
    """The central ``side x side`` of an image at least that large (offsets rounded half to even)."""
    top, left = int(round((image.height - side) / 2.0)), int(round((image.width - side) / 2.0))
    return image.crop((left, top, left + side, top + side))


@dataclass(frozen=True)
class InputSpec:
    """How a model's inputs are made: ``in_chans``, resize, center crop, zero pad, normalise.

    An image is converted to ``in_chans`` channels, resized so that its shorter side is ``resize``
    (bilinear, antialiased), center-cropped to ``crop x crop``, padded with ``pad`` black pixels on
    every side and normalised per channel with ``mean``/``std`` (values in 0..1 before it). The
    model's input is ``in_chans x (crop + 2 pad) x (crop + 2 pad)``: Fashion-MNIST models have
    ``resize = crop = 28, pad = 2`` (28 -> 32 like in training), CIFAR models ``32, 32, 0``.
    """

    in_chans: int
    resize: int
    crop: int
    pad: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        image_channels(self.in_chans)
        positive_int("resize", self.resize)
        if positive_int("crop", self.crop) > self.resize:
            raise ValueError(f"crop must be <= resize={self.resize}, got {self.crop}")
        non_negative_int("pad", self.pad)
        # stored as tuples of floats, so that specs given lists or integers (metadata) compare equal and hash
        object.__setattr__(self, "mean", _per_channel("mean", self.mean, self.in_chans, finite_number))
        object.__setattr__(self, "std", _per_channel("std", self.std, self.in_chans, positive_number))

    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one model input."""
        side = self.crop + 2 * self.pad
        return self.in_chans, side, side

    def normalize(self, pixels: Tensor) -> Tensor:
        """``C x H x W`` values in 0..1 -> normalised with ``mean``/``std``."""
        mean = torch.as_tensor(self.mean, dtype=pixels.dtype, device=pixels.device).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=pixels.dtype, device=pixels.device).view(-1, 1, 1)
        return pixels.sub(mean).div_(std)

    def to_tensor(self, image: Image.Image) -> Tensor:
        """One PIL image (any mode, any size) -> ``C x H x W`` float32, as the model was tested."""
        image = _center_crop(_resize_shorter_side(convert_mode(image, self.in_chans), self.resize), self.crop)
        pixels = torch.from_numpy(np.array(image)).reshape(image.height, image.width, -1).permute(2, 0, 1)
        pixels = pixels.float().div_(255.0)
        if self.pad:
            pixels = torch.nn.functional.pad(pixels, [self.pad] * 4)
        return self.normalize(pixels)

    def __call__(self, image: Image.Image) -> Tensor:
        """One PIL image -> ``1 x C x H x W`` float32 batch, ready for the model.

        A photo's EXIF orientation is applied first (phone cameras store pictures sideways).
        """
        if not isinstance(image, Image.Image):
            raise ValueError(f"expected a PIL image, got {type(image).__name__}")
        return self.to_tensor(ImageOps.exif_transpose(image)).unsqueeze(0)

    @classmethod
    def from_values(cls, in_chans: int, resize: int, crop: int, pad: int,
                    mean: Sequence[float], std: Sequence[float]) -> InputSpec:
        """Build from plain numbers and lists (as stored in a checkpoint's metadata); nothing is coerced,
        so a value of the wrong type raises ``ValueError`` naming its field, as the constructor does."""
        return cls(in_chans, resize, crop, pad, mean, std)
