"""The input spec of a checkpoint and the preprocessing it implies: PIL image -> normalised tensor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageOps
from torch import Tensor

from .._validate import finite_number, non_negative_int, positive_int, positive_number

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
_UNBOUNDED_MODES = frozenset({"I", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit images scaled by 1/257 (full range kept); 32-bit int or float images min-max stretched."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode in _SIXTEEN_BIT_MODES:
        scaled = values / 65535.0
    else:
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return Image.fromarray(np.round(scaled * 255.0).astype(np.uint8))


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite a transparent image onto black (the background of MNIST-style data)."""
    rgba = image.convert("RGBA") if image.mode != "La" else image.convert("LA").convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba).convert("RGB")


def _input_channels(in_chans: object) -> int:
    if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3, got {in_chans!r}")
    return in_chans


def _per_channel(name: str, values: object, in_chans: int, number: Callable[[str, object], float]) -> tuple[float, ...]:
    """One number per input channel, each checked by ``number``; returned as a tuple of floats."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != in_chans:
        raise ValueError(f"{name} must be a sequence of {in_chans} number(s), one per input channel, got {values!r}")
    return tuple(number(f"{name}[{index}]", value) for index, value in enumerate(values))


def convert_mode(image: Image.Image, in_chans: int) -> Image.Image:
    """Convert a PIL image of any mode to ``"L"`` (``in_chans`` 1) or ``"RGB"`` (``in_chans`` 3).

    Transparent images (RGBA, LA, P with transparency, ...) are composited onto black; 16-bit
    images keep their full range; ``"I"``/``"F"`` images are min-max stretched to 0..255; CMYK,
    YCbCr, LAB, HSV and 1-bit images go through PIL's own conversion.
    """
    _input_channels(in_chans)
    if not isinstance(image, Image.Image):
        raise ValueError(f"expected a PIL image, got {type(image).__name__}")
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in _UNBOUNDED_MODES:
        image = _to_8bit(image)
    elif image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        image = _flatten_alpha(image)
    elif image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return image.convert("L" if in_chans == 1 else "RGB")


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
        _input_channels(self.in_chans)
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
        return TF.normalize(pixels, list(self.mean), list(self.std))

    def to_tensor(self, image: Image.Image) -> Tensor:
        """One PIL image (any mode, any size) -> ``C x H x W`` float32, as the model was tested."""
        image = convert_mode(image, self.in_chans)
        image = TF.center_crop(TF.resize(image, self.resize, antialias=True), [self.crop, self.crop])
        pixels = TF.pil_to_tensor(image).float().div_(255.0)
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
