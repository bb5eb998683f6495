"""Image-mode conversion, the one implementation: any PIL image mode to ``"L"`` or ``"RGB"``.

Used by the checkpoints' preprocessing (:class:`slimconv.pretrained.InputSpec`, through
:func:`convert_mode`) and by :func:`analysis.load_image` (through :func:`to_grey_or_rgb`, which also
says what changed), so a model sees the same pixels from a script as from the app. PIL's own
``convert`` is used where it is right; it is not where it loses information: 16-bit and 32-bit grey
values are clipped at 255 by ``convert("L")``, and dropping an alpha channel shows whatever colour
hides under transparent pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", *_SIXTEEN_BIT_MODES})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}  # PIL converts these only to their straight-alpha form
_COLOUR_SPACES = frozenset({"CMYK", "YCbCr", "LAB", "HSV"})
# The value ranges that 32-bit images usually mean, tried in order: a float image of 0..1, values
# already in 8-bit range, 16-bit values stored as 32-bit; anything else is stretched.
_NOMINAL_TOPS = {"F": (1.0, 255.0, 65535.0), "I": (255.0, 65535.0)}
_BIT_DEPTHS = {"F": "32-bit float", "I": "32-bit integer"}


def _grey(fraction: np.ndarray) -> Image.Image:
    """Values in 0..1 -> an 8-bit ``"L"`` image."""
    return Image.fromarray(np.round(fraction * 255.0).astype(np.uint8))


def _to_8bit_grey(image: Image.Image) -> tuple[Image.Image, str]:
    """16-bit values divided by 257; 32-bit values scaled from their nominal range, else stretched."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode in _SIXTEEN_BIT_MODES:
        return _grey(values / 65535.0), "16-bit values (range 0..65535) scaled to 8 bits"
    kind = _BIT_DEPTHS[image.mode]
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    top = next((t for t in _NOMINAL_TOPS[image.mode] if low >= 0 and high <= t), None)
    if top is not None:
        return _grey(values / top), f"{kind} values (range 0..{top:g}) scaled to 8 bits"
    stretched = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return _grey(stretched), f"{kind} values {low:g}..{high:g} stretched to 8 bits"


def _has_transparency(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or image.info.get("transparency") is not None


def _flatten_onto_black(image: Image.Image, target: str) -> tuple[Image.Image, str | None]:
    """Composite onto black (the background of Fashion-MNIST and MNIST, and what the checkpoints'
    ``preprocess`` assumes); no note when every pixel is opaque (then it only drops the channel)."""
    straight = _PREMULTIPLIED.get(image.mode)
    rgba = (image.convert(straight) if straight else image).convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] == 255:
        return rgba.convert(target), None
    black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, rgba).convert(target), "transparency flattened onto black"


def to_grey_or_rgb(image: Image.Image) -> tuple[Image.Image, list[str]]:
    """A new image in ``"L"`` (grey modes) or ``"RGB"`` (all others) and notes on what was done.

    Transparent pixels are composited onto black, 16-bit values scaled (not clipped) to 8 bits,
    CMYK and other colour spaces converted by PIL (no colour profile applied).
    """
    target = "L" if image.mode in _GREY_MODES else "RGB"
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in _NOMINAL_TOPS:
        grey, note = _to_8bit_grey(image)
        return grey, [note]
    if _has_transparency(image):
        flat, note = _flatten_onto_black(image, target)
        return flat, [] if note is None else [note]
    notes = [f"{image.mode} converted to RGB"] if image.mode in _COLOUR_SPACES else []
    return image.convert(target), notes


def image_channels(in_chans: object) -> int:
    """``in_chans`` checked: a model fed by :func:`convert_mode` takes 1 (grey) or 3 (RGB) channels."""
    if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3, got {in_chans!r}")
    return in_chans


def convert_mode(image: Image.Image, in_chans: int) -> Image.Image:
    """A PIL image of any mode as ``"L"`` (``in_chans`` 1) or ``"RGB"`` (``in_chans`` 3).

    As :func:`to_grey_or_rgb` (transparency onto black, 16- and 32-bit values scaled, not clipped),
    then grey to RGB or RGB to grey by PIL (ITU-R 601-2 luma) where the model wants the other.
    """
    image_channels(in_chans)
    if not isinstance(image, Image.Image):
        raise ValueError(f"expected a PIL image, got {type(image).__name__}")
    converted, _ = to_grey_or_rgb(image)
    return converted.convert("L" if in_chans == 1 else "RGB")
