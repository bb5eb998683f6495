"""analysis.load_image: every bad-input case, the pixels of the unusual modes, sources and arguments."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analysis import ImageLoadError, load_image
from slimconv import SlimconvError
from tests.bad_inputs import IMAGE_CASES, image_outcome
from tests.bad_inputs.images import (
    EXIF_ORIENTATION,
    animated_gif,
    cmyk_jpeg,
    encode,
    exif_rotated_jpeg,
    float_tiff,
    grey_alpha_png,
    large_photo_jpeg,
    noise,
    one_bit_png,
    palette_png,
    rgba_png,
    sixteen_bit_png,
    valid_png,
)


@pytest.mark.filterwarnings("error")  # PIL's DecompressionBombWarning, among others, must not escape
@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case.id)
def test_bad_input_case(case) -> None:
    outcome = image_outcome(case)
    assert re.search(case.expect, outcome), outcome
    if outcome.startswith("ImageLoadError"):
        assert f"{case.file_name} " in outcome  # the message names the file


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(load_image(data), dtype=np.int16)


def test_cmyk_gives_the_expected_colours() -> None:
    pixels = _pixels(cmyk_jpeg())
    assert np.abs(pixels[4, 2] - (0, 255, 255)).max() <= 8  # cyan
    assert np.abs(pixels[4, 13] - (255, 0, 255)).max() <= 8  # magenta


def test_sixteen_bit_values_are_scaled_not_clipped() -> None:
    assert (_pixels(sixteen_bit_png(32768)) == 128).all()  # PIL's convert("L") would give 255
    values = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    assert _pixels(encode(Image.fromarray(values), "PNG")).tolist() == [[0, 100, 255]]
    assert np.asarray(load_image(Image.fromarray(values))).tolist() == [[0, 100, 255]]


def test_float_and_32_bit_values() -> None:
    assert _pixels(float_tiff())[0].tolist() == [0, 128, 255]
    wide = load_image(Image.fromarray(np.array([[-10.0, 0.0, 10.0]], dtype=np.float32)))
    assert np.asarray(wide).tolist() == [[0, 128, 255]] and "stretched" in wide.info["load_notes"][0]
    sixteen_in_32 = load_image(Image.fromarray(np.array([[0, 65535]], dtype=np.int32)))
    assert sixteen_in_32.mode == "L" and np.asarray(sixteen_in_32).tolist() == [[0, 255]]


def test_transparency_is_composited_onto_black() -> None:
    rgba = _pixels(rgba_png())
    assert (rgba[:, :8] == 0).all() and (rgba[:, 8:] == (0, 0, 255)).all()
    assert np.abs(_pixels(grey_alpha_png()) - 128).max() <= 1  # white at alpha 128 over black
    palette = Image.open(io.BytesIO(palette_png(True)))
    transparent = np.asarray(palette) == 0
    assert transparent.any() and (_pixels(palette_png(True))[transparent] == 0).all()
    opaque = Image.new("RGBA", (4, 4), (10, 20, 30, 255))
    assert load_image(opaque).getpixel((0, 0)) == (10, 20, 30) and load_image(opaque).info["load_notes"] == ()


def test_one_bit_and_the_first_frame() -> None:
    assert _pixels(one_bit_png())[0].tolist() == [255] * 4 + [0] * 4
    first = _pixels(animated_gif())
    assert np.abs(first - (255, 0, 0)).max() <= 8


@pytest.mark.parametrize(("orientation", "block"), [(6, (slice(0, 6), slice(22, 28))),
                                                   (8, (slice(34, 40), slice(0, 6)))])
def test_exif_orientation_turns_the_pixels_upright(orientation: int, block: tuple[slice, slice]) -> None:
    image = load_image(exif_rotated_jpeg(orientation))
    pixels = np.asarray(image)
    assert pixels.shape == (40, 28)
    assert pixels[block].min() > 200 and pixels.mean() < 20  # the white block moved to where it is seen
    assert image.getexif().get(EXIF_ORIENTATION) is None  # nothing left for a second exif_transpose


def test_large_photo_is_resized_to_max_side_keeping_its_content() -> None:
    image = load_image(large_photo_jpeg(), max_side=1000)
    assert image.size == (1000, 778) and image.info["load_notes"] == ("resized from 9000x7000 to 1000x778",)
    pixels = np.asarray(image.convert("L"), dtype=np.int16)
    assert pixels[:5].mean() < 10 and pixels[-5:].mean() > 245  # the gradient: dark top, bright bottom


def test_sources_path_bytes_file_object_and_pil_image(tmp_path: Path) -> None:
    path = tmp_path / "valid.png"
    path.write_bytes(valid_png())
    expected = np.asarray(load_image(path))
    with path.open("rb") as file:
        from_file = load_image(file)
    for other in (load_image(str(path)), load_image(bytearray(valid_png())), from_file):
        assert np.array_equal(np.asarray(other), expected)
    original = noise((300, 100), "RGBA")
    loaded = load_image(original, max_side=150)
    assert loaded is not original and original.mode == "RGBA" and original.size == (300, 100)
    assert loaded.size == (150, 50) and loaded.info["load_notes"] == ("transparency flattened onto black",
                                                                      "resized from 300x100 to 150x50")


def test_files_over_the_limits_are_refused_naming_size_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(encode(noise((64, 64)), "PNG"))
    size = path.stat().st_size
    with pytest.raises(ImageLoadError, match=rf"photo\.png is {size:,} bytes, over the limit of 1,000 bytes"):
        load_image(path, max_bytes=1000)
    with path.open("rb") as stream, pytest.raises(ImageLoadError, match=r"photo\.png is over the limit of 1,000"):
        load_image(stream, max_bytes=1000)  # a stream is read no further than one byte past the limit
    with pytest.raises(ImageLoadError, match=r"has 64x64 pixels, over the limit of 100 pixels"):
        load_image(noise((64, 64)), max_pixels=100)
    with pytest.raises(ImageLoadError, match="does not exist; check the path"):
        load_image(tmp_path / "missing.png")


def test_errors_are_project_errors_and_value_errors() -> None:
    with pytest.raises(ImageLoadError) as raised:
        load_image(b"")
    assert isinstance(raised.value, SlimconvError) and isinstance(raised.value, ValueError)
    assert str(raised.value).startswith("the file is empty")


@pytest.mark.parametrize(("options", "message"), [
    ({"max_side": 0}, "max_side must be an integer >= 1, got 0"),
    ({"max_bytes": -1}, "max_bytes must be an integer >= 1, got -1"),
    ({"max_pixels": 2.5}, "max_pixels must be an integer >= 1, got 2.5"),
    ({"max_side": True}, "max_side must be an integer >= 1, got True"),
])
def test_bad_arguments(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        load_image(valid_png(), **options)
    assert not isinstance(raised.value, ImageLoadError)  # a caller's mistake, not a problem of the file


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"source must be a path, bytes, .* or a PIL image, got ndarray"):
        load_image(np.zeros((4, 4)))
    text = tmp_path / "notes.txt"
    text.write_text("not binary")
    with text.open() as file, pytest.raises(ValueError, match=r"notes\.txt must be opened in binary mode"):
        load_image(file)
