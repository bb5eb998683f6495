"""One loader for every image the analysis sees: files, bytes, uploads and PIL images.

The result is always fully decoded, ``"L"`` or ``"RGB"``, at most ``max_side`` pixels on its longest
side, upright, and records what was done to it in ``image.info["load_notes"]`` (for the app to show).
Untrusted files are bounded before decoding: their byte size, and the pixels they declare (after a
JPEG is set to decode at reduced scale), so a small file that declares a huge image never fills
memory. Only the formats in :data:`ACCEPTED_FORMATS` are opened, which keeps PIL's rarer decoders
(and EPS, which runs Ghostscript) out of reach.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from slimconv import SlimconvError
from slimconv._validate import positive_int
from slimconv.image_modes import to_grey_or_rgb

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
DEFAULT_MAX_SIDE = 2048
DEFAULT_MAX_BYTES = 50 * 2**20
DEFAULT_MAX_PIXELS = 50_000_000
_FORMAT_NAMES = "PNG, JPEG, GIF, BMP, TIFF or WebP"
_MAKE_SMALLER = "save a smaller copy of it (2048 pixels on the longest side is plenty)"
# How the accepted formats start: a file that does but cannot be identified is damaged, not foreign.
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transposition that shows the stored pixels upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

ImageSource = str | Path | bytes | BinaryIO | Image.Image


class ImageLoadError(SlimconvError, ValueError):
    """An image cannot be used: missing, empty, too large, truncated, damaged or not an image.
    The message names the file, says what is wrong and what to do."""


def _read_source(source: str | Path | bytes | BinaryIO, max_bytes: int) -> tuple[bytes, str]:
    """The file's bytes (at most ``max_bytes + 1`` read from a stream) and its name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "the file"
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"image file {str(path)!r} does not exist; check the path")
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_many_bytes(path.name, size, max_bytes)
        return path.read_bytes(), path.name
    if not callable(getattr(source, "read", None)):
        raise ValueError("source must be a path, bytes, a binary file object or a PIL image, "
                         f"got {type(source).__name__}")
    label = Path(str(getattr(source, "name", "the uploaded image"))).name
    in_memory = callable(getattr(source, "getvalue", None))  # an upload (BytesIO): all of it, from its start
    data = source.getvalue() if in_memory else source.read(max_bytes + 1)
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"{label} must be opened in binary mode ('rb'), it gave {type(data).__name__}")
    if not in_memory and len(data) > max_bytes:  # read one byte past the limit: its full size is unknown
        raise ImageLoadError(f"{label} is over the limit of {max_bytes:,} bytes and was not decoded; {_MAKE_SMALLER}")
    return bytes(data), label


def _too_many_bytes(label: str, size: int, max_bytes: int) -> ImageLoadError:
    return ImageLoadError(f"{label} is {size:,} bytes, over the limit of {max_bytes:,} bytes, and was not decoded; "
                          f"{_MAKE_SMALLER}")


def _declared_pixels(error: Image.DecompressionBombError) -> str:
    """The pixel count in PIL's refusal, which stops before handing over the image and its size."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    return f"{int(found.group(1)):,}" if found else "too many"


@contextmanager
def _decoding(label: str, data: bytes, max_pixels: int) -> Iterator[None]:
    """Turn whatever PIL raises on untrusted bytes into an ``ImageLoadError`` about the file."""
    try:
        with warnings.catch_warnings():
            # PIL warns from about 89 megapixels; max_pixels decides instead, after a JPEG's draft
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except Image.DecompressionBombError as error:
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))  # PIL refuses above twice its own
        raise ImageLoadError(
            f"{label} declares {_declared_pixels(error)} pixels, over the limit of {limit:,} pixels: it could be "
            f"a decompression bomb and was not decoded; if it is a real picture, {_MAKE_SMALLER}"
        ) from None
    except UnidentifiedImageError:
        if data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise _damaged(label, "its header is incomplete") from None
        raise ImageLoadError(f"{label} is not an image in a format read here; choose a {_FORMAT_NAMES} file") from None
    except Exception as error:  # decoders raise many types on bad bytes: all are problems of the file
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
        raise _damaged(label, detail) from None


def _damaged(label: str, detail: str) -> ImageLoadError:
    return ImageLoadError(f"{label} is truncated or damaged ({detail}); the download, copy or upload did not "
                          "finish: get the file again, or re-save it as PNG or JPEG")


def _draft_size(size: tuple[int, int], max_side: int) -> tuple[int, int] | None:
    """The smallest size a JPEG may decode at and still give ``max_side`` on its longest side."""
    scale = max_side / max(size)
    return None if scale >= 1 else (math.ceil(size[0] * scale), math.ceil(size[1] * scale))


def _decode(data: bytes, label: str, max_side: int, max_pixels: int) -> tuple[Image.Image, tuple[int, int], int]:
    """Open, bound and decode the first frame; returns it with the declared size and the frame count."""
    with _decoding(label, data, max_pixels):
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        frames = getattr(image, "n_frames", 1)
        declared = image.size
        draft_size = _draft_size(declared, max_side)
        if draft_size is not None:
            image.draft(None, draft_size)  # JPEG only (a no-op elsewhere): DCT scaling by 1/2, 1/4 or 1/8
    width, height = image.size
    if width * height > max_pixels:
        scaled = "" if image.size == declared else f" ({width}x{height} even at reduced scale)"
        raise ImageLoadError(
            f"{label} declares {declared[0]}x{declared[1]} pixels{scaled}, over the limit of {max_pixels:,} "
            f"pixels, and was not decoded; {_MAKE_SMALLER}"
        )
    with _decoding(label, data, max_pixels):
        image.load()
    return image, declared, frames


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a damaged EXIF block only loses the orientation; the pixels are fine
        return 1


def _fit(image: Image.Image, max_side: int) -> Image.Image:
    scale = max_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def load_image(
    source: ImageSource,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Load an image from a path, bytes, a binary file object (e.g. a Streamlit upload) or a PIL image.

    Returns a new, fully loaded image in mode ``"L"`` (grey sources: 1-bit, 8/16/32-bit grey) or
    ``"RGB"`` (all others), resized so that its longest side is at most ``max_side``. Animated files
    give their first frame (a PIL image is taken at its current frame); transparent pixels are
    composited onto black (as the checkpoints' preprocessing does); 16-bit values are scaled to
    8 bits (not clipped); the EXIF orientation is applied, so the image is upright and carries no
    orientation tag any more.
    ``image.info["load_notes"]`` is a tuple of short strings saying which of these happened
    (``"resized from 9000x7000 to 2048x1593"``, ``"first of 3 frames"``, ...).

    Files of more than ``max_bytes`` bytes, and images that would decode to more than ``max_pixels``
    pixels, are refused before decoding. Raises ``ImageLoadError`` (a ``ValueError``) naming the file
    and saying what is wrong with it; ``ValueError`` naming the argument for bad arguments.
    """
    max_side = positive_int("max_side", max_side)
    max_bytes = positive_int("max_bytes", max_bytes)
    max_pixels = positive_int("max_pixels", max_pixels)
    notes: list[str] = []
    if isinstance(source, Image.Image):
        label = "the image"
        if source.width * source.height > max_pixels:
            raise ImageLoadError(f"{label} has {source.width}x{source.height} pixels, over the limit of "
                                 f"{max_pixels:,} pixels; resize it first")
        with _decoding(label, b"", max_pixels):
            source.load()  # a lazily opened file decodes here; an image in memory is unchanged
        image, declared = source, source.size
    else:
        data, label = _read_source(source, max_bytes)
        if not data:
            raise ImageLoadError(f"{label} is empty (0 bytes): the download, copy or upload did not finish; "
                                 "get the file again")
        if len(data) > max_bytes:
            raise _too_many_bytes(label, len(data), max_bytes)
        image, declared, frames = _decode(data, label, max_side, max_pixels)
        if frames > 1:
            notes.append(f"first of {frames} frames")
    orientation = _orientation(image)
    image, mode_notes = to_grey_or_rgb(image)
    notes += mode_notes
    fitted = _fit(image, max_side)
    if fitted.size != declared:
        notes.append(f"resized from {declared[0]}x{declared[1]} to {fitted.width}x{fitted.height}")
    if orientation in _UPRIGHT:
        fitted = fitted.transpose(_UPRIGHT[orientation])
        notes.append(f"EXIF orientation {orientation} applied (turned upright)")
    # a fresh info: the EXIF orientation is applied, so no later exif_transpose may turn it again
    fitted.info = {"load_notes": tuple(notes)}
    return fitted
