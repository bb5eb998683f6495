"""Checkpoint files: format, safe loading with clear errors, safetensors export, bundled models, preprocessing."""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import slimconv.pretrained.handle as handle_module
from slimconv.errors import CheckpointError
from slimconv.image_modes import convert_mode
from slimconv.models import create_model
from slimconv.pretrained import (
    CheckpointMeta,
    InputSpec,
    export_safetensors,
    list_pretrained,
    load_checkpoint,
    load_pretrained,
    read_checkpoint,
    save_checkpoint,
)
from tests.bad_inputs import CHECKPOINT_CASES, checkpoint_outcome
from tests.bad_inputs.checkpoints import safetensors_with_wrong_shape, torchscript

FASHION = InputSpec(1, 28, 28, 2, (0.2860,), (0.3530,))
CLASSES = tuple(f"class {i}" for i in range(10))


def _meta(model: torch.nn.Module, name: str = "resnet20", spec: InputSpec = FASHION, **changes) -> CheckpointMeta:
    values = dict(model_name=name, op=None, policy=None, options={}, input=spec, classes=CLASSES,
                  dataset="fashion-mnist", metrics={"test_accuracy": 0.5}, macs=1)
    values.update(changes)
    return CheckpointMeta.for_model(model, **values)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = create_model("resnet20", in_chans=1, num_classes=10)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "resnet20.pt", model, _meta(model))


def test_file_loads_with_plain_weights_only_torch_load(checkpoint: Path) -> None:
    raw = torch.load(checkpoint, weights_only=True)
    assert raw["format"] == "slimconv-checkpoint" and raw["format_version"] == 1
    meta = raw["meta"]
    assert meta["model"] == "resnet20" and meta["in_chans"] == 1 and meta["input_size"] == [1, 32, 32]
    assert meta["classes"] == list(CLASSES) and meta["metrics"]["test_accuracy"] == 0.5
    assert meta["params"] == 272_186 and meta["mean"] == [0.2860] and meta["std"] == [0.3530]
    assert meta["torch_version"] == str(torch.__version__) and meta["slimconv_version"]
    assert meta["date"].endswith("+00:00")


def test_load_from_path_bytes_and_file_object_gives_the_same_model(checkpoint: Path) -> None:
    from_path = load_checkpoint(checkpoint)
    upload = io.BytesIO(checkpoint.read_bytes())
    upload.name = "upload.pt"
    upload.read(10)  # a file object already read from is read again from its start
    from_upload = load_checkpoint(upload)
    from_bytes = load_checkpoint(checkpoint.read_bytes())
    assert from_upload.source == "upload.pt" and from_path.source == "resnet20.pt"
    for other in (from_upload, from_bytes):
        for (name, a), b in zip(from_path.model.state_dict().items(), other.model.state_dict().values(),
                                strict=True):
            assert torch.equal(a, b), name
    assert not from_path.model.training and from_path.classes == CLASSES
    assert from_path.meta.metrics["test_accuracy"] == 0.5


def test_operator_checkpoint_is_rebuilt_with_its_options(tmp_path: Path) -> None:
    model = create_model("resnet20", op="linearconv", variant="lowrank", rank=2, in_chans=3, num_classes=10)
    spec = InputSpec(3, 32, 32, 0, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    path = save_checkpoint(tmp_path / "lc.pt", model,
                           _meta(model, op="linearconv", policy="all", options={"variant": "lowrank", "rank": 2},
                                 spec=spec))
    loaded = load_checkpoint(path)
    assert type(loaded.model.conv1).__name__ == "LinearConv2d" and loaded.model.conv1.rank == 2
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), model.eval()(x))


def test_safetensors_export_keeps_weights_and_metadata(checkpoint: Path, tmp_path: Path) -> None:
    out = export_safetensors(checkpoint, tmp_path / "model.safetensors")
    data = out.read_bytes()
    (header_length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_length])
    assert header["__metadata__"]["format"] == "slimconv-checkpoint"
    assert json.loads(header["__metadata__"]["meta"])["classes"] == list(CLASSES)
    original, exported = read_checkpoint(checkpoint), read_checkpoint(out)
    assert exported.meta == original.meta and exported.training is None
    assert all(torch.equal(original.state_dict[k], v) for k, v in exported.state_dict.items())
    assert exported.state_dict.keys() == original.state_dict.keys()
    assert load_checkpoint(out).meta.model == "resnet20"


class _CreatesMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_CreatesMarker(control)))  # an unsafe load of such a file does create the marker
    assert control.exists()
    zipped = tmp_path / "evil_zip.pt"
    torch.save({"format": "slimconv-checkpoint", "payload": _CreatesMarker(marker)}, zipped)
    files = {"zip": zipped}
    for protocol in (2, pickle.DEFAULT_PROTOCOL):
        files[f"pickle {protocol}"] = tmp_path / f"evil{protocol}.pt"
        files[f"pickle {protocol}"].write_bytes(pickle.dumps({"state_dict": _CreatesMarker(marker)}, protocol))
    for kind, path in files.items():
        with pytest.raises(CheckpointError, match="nothing in it was executed") as raised:
            load_checkpoint(path)
        if kind != f"pickle {pickle.DEFAULT_PROTOCOL}":  # protocol 4+ framing is refused before any name is read
            assert "Python objects that a safe load refuses" in str(raised.value), kind
    assert not marker.exists()


@pytest.mark.parametrize("case", CHECKPOINT_CASES, ids=lambda case: case.id)
def test_bad_input_case(case) -> None:
    outcome = checkpoint_outcome(case)
    assert re.search(case.expect, outcome), outcome
    if outcome.startswith("CheckpointError"):
        assert f"{case.file_name} " in outcome  # the message names the file


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"checkpoint file '.*missing\.pt' does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_torchscript_is_refused_before_any_torch_loader_sees_it(monkeypatch: pytest.MonkeyPatch) -> None:
    data = torchscript(traced=False)
    calls = []
    monkeypatch.setattr(torch.jit, "load", lambda *args, **kwargs: calls.append("torch.jit.load"))
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: calls.append("torch.load"))
    with pytest.raises(CheckpointError, match="is a TorchScript program .* nothing in it ran"):
        load_checkpoint(data)
    assert calls == []


def test_reshaped_safetensors_keeps_its_metadata() -> None:
    contents = read_checkpoint(safetensors_with_wrong_shape())  # reads: the metadata is intact
    assert contents.meta.model == "resnet20" and tuple(contents.state_dict["fc.weight"].shape) == (10, 32)


def test_saving_refuses_values_that_a_safe_load_would_reject(tmp_path: Path) -> None:
    model = create_model("resnet20", in_chans=1)
    with pytest.raises(ValueError, match=r"checkpoint\['training'\]\['when'\] is a pathlib"):
        save_checkpoint(tmp_path / "x.pt", model, _meta(model), training={"when": Path("now")})
    with pytest.raises(ValueError, match="options"):
        _meta(model, options={"alpha": object()})
    assert not (tmp_path / "x.pt").exists()


def test_bundled_models_are_listed_and_loaded(checkpoint: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "pretrained"
    folder.mkdir()
    (folder / "resnet20_fashion.pt").write_bytes(checkpoint.read_bytes())
    (folder / "notes.txt").write_text("not a checkpoint")
    assert list_pretrained(folder) == ["resnet20_fashion"]
    assert load_pretrained("resnet20_fashion", folder).meta.model == "resnet20"
    monkeypatch.setattr(handle_module, "_bundled_folder", lambda: folder)
    assert list_pretrained() == ["resnet20_fashion"]
    assert load_pretrained("resnet20_fashion").source == "resnet20_fashion.pt"
    with pytest.raises(ValueError, match="no pretrained model 'resnet56'; choose one of resnet20_fashion"):
        load_pretrained("resnet56")


def test_the_package_location_of_bundled_models(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = handle_module._bundled_folder()
    assert Path(str(folder)) == Path(handle_module.__file__).parents[1] / "models" / "pretrained"
    assert isinstance(list_pretrained(), list)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "P", "I;16", "I", "F", "CMYK", "1"])
@pytest.mark.parametrize("size", [(1, 1), (28, 28), (57, 13), (300, 200)])
def test_preprocess_accepts_any_mode_and_size(mode: str, size: tuple[int, int]) -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    image = image.convert(mode)
    for spec in (FASHION, InputSpec(3, 36, 32, 0, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2))):
        batch = spec(image)
        assert batch.shape == (1, *spec.input_size) and batch.dtype == torch.float32
        assert torch.isfinite(batch).all()


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "I;16", "P"])
@pytest.mark.parametrize("size", [(1, 1), (28, 28), (29, 28), (57, 13), (13, 57), (300, 200), (37, 36), (33, 35)])
def test_preprocess_gives_torchvisions_pixels(mode: str, size: tuple[int, int]) -> None:
    """The resize and center crop are written with PIL (importing torchvision costs the app a second): they give
    bit for bit what torchvision's resize (antialias) and center_crop give."""
    import torchvision.transforms.functional as TF

    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    image = image.convert(mode)
    for spec in (FASHION, InputSpec(3, 36, 32, 0, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2)), InputSpec(3, 35, 33, 1, (0.5,) * 3,
                                                                                                   (0.25,) * 3)):
        converted = convert_mode(image, spec.in_chans)
        cropped = TF.center_crop(TF.resize(converted, spec.resize, antialias=True), [spec.crop, spec.crop])
        pixels = torch.nn.functional.pad(TF.pil_to_tensor(cropped).float().div_(255.0), [spec.pad] * 4)
        expected = TF.normalize(pixels, list(spec.mean), list(spec.std))
        assert torch.equal(spec.to_tensor(image), expected), (mode, size, spec)


def test_preprocess_values() -> None:
    pixels = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    batch = FASHION(Image.fromarray(pixels))
    expected = torch.nn.functional.pad(torch.from_numpy(pixels).float() / 255, [2, 2, 2, 2])
    assert torch.allclose(batch[0, 0], (expected - 0.2860) / 0.3530)
    # transparent pixels become black; 16-bit images keep their full range
    rgba = Image.new("RGBA", (28, 28), (255, 255, 255, 0))
    assert torch.allclose(FASHION(rgba)[0, 0, 2:-2, 2:-2], torch.full((28, 28), -0.2860 / 0.3530))
    sixteen = Image.fromarray(np.full((28, 28), 65535, dtype=np.uint16))
    assert sixteen.mode == "I;16"
    assert torch.allclose(FASHION(sixteen)[0, 0, 2:-2, 2:-2], torch.full((28, 28), (1 - 0.2860) / 0.3530))
    # RGB to one channel is PIL's luma; one channel to RGB repeats it
    red = Image.new("RGB", (28, 28), (255, 0, 0))
    assert torch.allclose(FASHION(red)[0, 0, 5, 5], torch.tensor((76 / 255 - 0.2860) / 0.3530))
    with pytest.raises(ValueError, match="PIL image"):
        FASHION(np.zeros((28, 28)))


def test_preprocess_applies_the_exif_orientation() -> None:
    pixels = np.zeros((28, 40), dtype=np.uint8)
    pixels[:, 18:22] = 255  # a vertical stripe, stored as if the camera was turned
    photo = Image.fromarray(pixels)
    exif = photo.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", exif=exif.tobytes(), quality=100)
    upright = FASHION(Image.open(buffer))[0, 0]
    assert (upright[16, 2:-2] > 2.0).all()  # displayed upright, the stripe runs across the image
