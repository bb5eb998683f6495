"""One image-mode conversion: the checkpoints' preprocessing (convert_mode, InputSpec) and the app's
loader (analysis.load_image) give the same pixels on the inputs where their two copies used to differ."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from analysis import load_image
from slimconv.image_modes import convert_mode
from slimconv.pretrained import InputSpec


def _float_image(values: list[list[float]]) -> Image.Image:
    return Image.fromarray(np.array(values, dtype=np.float32))


def _colour_keyed(mode: str) -> Image.Image:
    """Left half the key colour (transparent through a tRNS colour key, not an alpha channel), right half white."""
    key = 200 if mode == "L" else (200, 10, 10)
    image = Image.new(mode, (4, 2), key)
    image.paste(255 if mode == "L" else (255, 255, 255), (2, 0, 4, 2))
    image.info["transparency"] = key
    return image


# Each case was converted differently by the preprocessing's own copy: "F" and "I" images were always
# min-max stretched (a 0..1 float image of a dim photo came out at full contrast), NaN made the whole
# image garbage, and a colour key (tRNS) was ignored (the key colour showed instead of black).
DIVERGENT_CASES = {
    "float in 0..1 keeps its brightness": (_float_image([[0.2, 0.4, 0.6]]), 1, [[51, 102, 153]]),
    "int in 8-bit range keeps its values": (Image.fromarray(np.array([[10, 50, 100]], dtype=np.int32)), 1,
                                            [[10, 50, 100]]),
    "NaN becomes the lowest value": (_float_image([[0.0, float("nan"), 1.0]]), 1, [[0, 0, 255]]),
    "grey colour key onto black": (_colour_keyed("L"), 1, [[0, 0, 255, 255]] * 2),
    "RGB colour key onto black": (_colour_keyed("RGB"), 1, [[0, 0, 255, 255]] * 2),
}


@pytest.mark.parametrize("case", list(DIVERGENT_CASES))
def test_library_and_app_convert_alike_where_the_copies_diverged(case: str) -> None:
    image, in_chans, expected = DIVERGENT_CASES[case]
    library = np.asarray(convert_mode(image, in_chans))
    app = np.asarray(load_image(image).convert("L" if in_chans == 1 else "RGB"))
    assert library.tolist() == expected
    assert app.tolist() == expected


def test_rgb_colour_key_stays_black_for_a_three_channel_model() -> None:
    pixels = np.asarray(convert_mode(_colour_keyed("RGB"), 3))
    assert (pixels[:, :2] == 0).all() and (pixels[:, 2:] == 255).all()


def test_input_spec_sees_the_same_tensor_from_a_file_and_from_the_app_loader() -> None:
    spec = InputSpec(in_chans=1, resize=3, crop=3, pad=0, mean=(0.0,), std=(1.0,))
    image = _float_image([[0.2, 0.4, 0.6]] * 3)
    direct = spec(image)
    through_app = spec(load_image(image))
    assert torch.equal(direct, through_app)
    assert direct[0, 0, 0].tolist() == pytest.approx([0.2, 0.4, 0.6], abs=1 / 255)
