"""Image files for ``analysis.load_image``: damaged, hostile, unusual modes, animated, rotated, huge."""

from __future__ import annotations

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

from analysis import ImageLoadError, load_image

from .case import Case, cut

BOMB_SIDE = 30_000
EXIF_ORIENTATION = 0x0112


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def noise(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    channels = len(Image.new(mode, (1, 1)).getbands())
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode=mode)


def valid_png() -> bytes:
    return encode(noise((28, 28), "L"), "PNG")


def png_declaring(width: int, height: int) -> bytes:
    """A real 8x8 PNG whose header (IHDR, CRC fixed) claims ``width x height``: a decompression bomb."""
    data = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)  # IHDR data follows the 8-byte signature and chunk head
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # CRC of chunk type + data
    return bytes(data)


def cmyk_jpeg() -> bytes:
    """Pure cyan, then pure magenta: CMYK (255, 0, 0, 0) and (0, 255, 0, 0)."""
    image = Image.new("CMYK", (16, 8), (255, 0, 0, 0))
    image.paste((0, 255, 0, 0), (8, 0, 16, 8))
    return encode(image, "JPEG", quality=95)


def sixteen_bit_png(value: int = 32768) -> bytes:
    return encode(Image.fromarray(np.full((8, 8), value, dtype=np.uint16)), "PNG")


def float_tiff() -> bytes:
    """Values 0, 0.5 and 1 in a 32-bit float TIFF (mode ``"F"``)."""
    return encode(Image.fromarray(np.array([[0.0, 0.5, 1.0]] * 3, dtype=np.float32)), "TIFF")


def palette_png(transparent: bool) -> bytes:
    image = noise((16, 16)).quantize(8)
    return encode(image, "PNG", **({"transparency": 0} if transparent else {}))


def rgba_png() -> bytes:
    """Left half fully transparent red, right half opaque blue."""
    image = Image.new("RGBA", (16, 8), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (8, 0, 16, 8))
    return encode(image, "PNG")


def grey_alpha_png() -> bytes:
    """White at half opacity: over black it is mid-grey."""
    return encode(Image.new("LA", (8, 8), (255, 128)), "PNG")


def one_bit_png() -> bytes:
    image = Image.new("1", (8, 8), 0)
    image.paste(1, (0, 0, 4, 8))
    return encode(image, "PNG")


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "lime", "blue")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def exif_rotated_jpeg(orientation: int) -> bytes:
    """Stored 40 wide x 28 high, black with a white 6x6 block at the top-left, EXIF ``orientation``."""
    pixels = np.zeros((28, 40), dtype=np.uint8)
    pixels[:6, :6] = 255
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[EXIF_ORIENTATION] = orientation
    return encode(image, "JPEG", exif=exif.tobytes(), quality=100)


@functools.cache
def large_photo_jpeg() -> bytes:
    """A 9000x7000 JPEG (63 megapixels) of a gradient: about 1 MB on disk, 189 MB decoded."""
    gradient = Image.linear_gradient("L").resize((9000, 7000), Image.Resampling.NEAREST)
    return encode(gradient.convert("RGB"), "JPEG", quality=50)


_PHOTO = functools.partial(encode, noise((64, 64)), "JPEG")
_PNG = functools.partial(encode, noise((64, 64)), "PNG")

IMAGE_CASES: tuple[Case, ...] = (
    Case("valid.png", "a valid 28x28 grey PNG (for reference)", valid_png, r"^L 28x28; notes: none$"),
    Case("empty.png", "zero bytes", lambda: b"", r"empty \(0 bytes\)"),
    Case("truncated.jpg", "a JPEG cut in half", cut(_PHOTO, 0.5), r"truncated or damaged \(image file is truncated"),
    Case("truncated.png", "a PNG cut in half", cut(_PNG, 0.5), r"truncated or damaged \(image file is truncated"),
    Case("header-only.png", "the first 40 bytes of a PNG", cut(_PNG, 40), r"truncated or damaged .*header"),
    Case("bomb.png", f"an 8x8 PNG whose header declares {BOMB_SIDE}x{BOMB_SIDE}",
         lambda: png_declaring(BOMB_SIDE, BOMB_SIDE),
         r"declares 900,000,000 pixels, over the limit of 50,000,000 pixels: it could be a decompression bomb"),
    Case("huge.png", "an 8x8 PNG whose header declares 10000x10000 (PIL itself only warns)",
         lambda: png_declaring(10_000, 10_000), r"declares 10000x10000 pixels, over the limit of 50,000,000"),
    Case("notes.png", "a text file named .png", lambda: b"Notes from the lab meeting\n",
         r"is not an image in a format read here; choose a PNG, JPEG, GIF, BMP, TIFF or WebP file"),
    Case("picture.ppm", "a valid PPM image (a format PIL reads but this loader does not open)",
         lambda: encode(noise((8, 8)), "PPM"), r"is not an image in a format read here"),
    Case("cmyk.jpg", "a CMYK JPEG (cyan and magenta halves)", cmyk_jpeg, r"^RGB 16x8; notes: CMYK converted to RGB$"),
    Case("grey16.png", "a 16-bit grey PNG, all 32768", sixteen_bit_png,
         r"^L 8x8; notes: 16-bit values \(range 0\.\.65535\) scaled to 8 bits$"),
    Case("float.tif", "a 32-bit float TIFF with values 0..1", float_tiff,
         r"^L 3x3; notes: 32-bit float values \(range 0\.\.1\) scaled to 8 bits$"),
    Case("palette.png", "an 8-colour palette PNG", lambda: palette_png(False), r"^RGB 16x16; notes: none$"),
    Case("palette-transparent.png", "a palette PNG with a transparent colour", lambda: palette_png(True),
         r"^RGB 16x16; notes: transparency flattened onto black$"),
    Case("rgba.png", "an RGBA PNG, half transparent", rgba_png,
         r"^RGB 16x8; notes: transparency flattened onto black$"),
    Case("grey-alpha.png", "a grey + alpha (LA) PNG at half opacity", grey_alpha_png,
         r"^L 8x8; notes: transparency flattened onto black$"),
    Case("one-bit.png", "a 1-bit PNG", one_bit_png, r"^L 8x8; notes: none$"),
    Case("animated.gif", "an animated GIF of 3 frames", animated_gif, r"^RGB 8x8; notes: first of 3 frames$"),
    Case("rotated-6.jpg", "a 40x28 JPEG with EXIF orientation 6 (camera turned right)",
         lambda: exif_rotated_jpeg(6), r"^L 28x40; notes: EXIF orientation 6 applied"),
    Case("rotated-8.jpg", "a 40x28 JPEG with EXIF orientation 8 (camera turned left)",
         lambda: exif_rotated_jpeg(8), r"^L 28x40; notes: EXIF orientation 8 applied"),
    Case("photo.tif", "an RGB TIFF", lambda: encode(noise((12, 10)), "TIFF"), r"^RGB 12x10; notes: none$"),
    Case("photo.webp", "an RGB WebP", lambda: encode(noise((12, 10)), "WEBP"), r"^RGB 12x10; notes: none$"),
    Case("large.jpg", "a 9000x7000 JPEG (decoded at 1/4 scale, then resized)", large_photo_jpeg,
         r"^RGB 2048x1593; notes: resized from 9000x7000 to 2048x1593$"),
    Case("large.jpg", "the same JPEG: at 1/4 scale (2250x1750) it fits", large_photo_jpeg,
         r"^RGB 2048x1593; notes: resized from 9000x7000", {"max_pixels": 4_000_000}),
    Case("large.jpg", "the same JPEG: even at 1/4 scale it does not fit", large_photo_jpeg,
         r"declares 9000x7000 pixels \(2250x1750 even at reduced scale\), over the limit of 3,000,000",
         {"max_pixels": 3_000_000}),
    Case("large.jpg", "the same JPEG, over the byte limit", large_photo_jpeg,
         r"large\.jpg is [\d,]+ bytes, over the limit of 100,000 bytes", {"max_bytes": 100_000}),
)


def image_outcome(case: Case) -> str:
    """What ``load_image`` makes of the case: the error message, or mode, size and notes."""
    try:
        image = load_image(case.upload(), **case.options)
    except ImageLoadError as error:
        return f"ImageLoadError: {error}"
    notes = "; ".join(image.info["load_notes"]) or "none"
    return f"{image.mode} {image.width}x{image.height}; notes: {notes}"
