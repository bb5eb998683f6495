import io
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

from lab import PRETRAINED_DIR_VARIABLE
from tests.app.apptest_helpers import assert_clean, run_app, shown
from tests.app.checkpoints import TEST_ZOO

SAMPLES = Path(__file__).resolve().parents[2] / "slimconv/models/samples/fashion-mnist"


def test_default_model_is_the_first_zoo_checkpoint(zoo_env):
    app = run_app()
    assert app.selectbox(key="zoo_name").value == next(iter(TEST_ZOO))
    assert app.session_state["lab_model"].label == next(iter(TEST_ZOO))
    names = [item.name for item in app.session_state["lab_images"]]
    assert len(names) == 17 and names[-1] == "flower.jpg"  # 16 Fashion-MNIST test images and a photo


def test_without_a_zoo_the_sidebar_says_so_and_offers_the_alternatives(tmp_path, monkeypatch):
    monkeypatch.setenv(PRETRAINED_DIR_VARIABLE, str(tmp_path / "empty"))
    app = run_app()
    assert any("No bundled checkpoint" in w.value for w in app.sidebar.warning)
    assert app.session_state["lab_model"] is None
    assert any("Choose a model" in info.value for info in app.info)
    app.radio(key="model_source").set_value("Torchvision").run()
    assert_clean(app)
    assert app.selectbox(key="torchvision_name").value == "resnet18"


def test_conversion_on_the_fly_builds_a_new_model(zoo_env):
    app = run_app()
    dense = app.session_state["lab_model"]
    app.selectbox(key="convert_op").set_value("spconv").run()
    assert_clean(app)
    converted = app.session_state["lab_model"]
    assert converted.key != dense.key and "spconv" in converted.label
    assert type(converted.model) is type(dense.model) and converted.model is not dense.model


@pytest.mark.parametrize("samples", [["china.jpg"], ["bag_00018.png", "coat_00006.png"]])
def test_sample_choice_reaches_the_pages(zoo_env, samples):
    app = run_app()
    app.multiselect(key="sample_names").set_value(samples).run()
    assert_clean(app)
    assert [item.name for item in app.session_state["lab_images"]] == samples


def _png_bytes(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_uploaded_checkpoint_is_loaded_and_a_bad_one_explained(zoo_env):
    app = run_app()
    app.radio(key="model_source").set_value("Checkpoint file").run()
    assert app.session_state["lab_model"] is None
    data = (zoo_env / "resnet20-linearconv-fashion.pt").read_bytes()
    app.get("file_uploader")[0].upload("mine.pt", data).run()
    assert_clean(app)
    assert app.session_state["lab_model"].label == "mine.pt"
    assert app.session_state["lab_model"].meta.op == "linearconv"
    app.get("file_uploader")[0].upload("notes.pt", b"these are not weights\n").run()
    assert not app.exception
    assert any("notes.pt is a text file" in shown(error.value) for error in app.sidebar.error)


def test_uploaded_images_and_a_broken_one(zoo_env):
    app = run_app()
    app.radio(key="image_source").set_value("Upload").run()
    uploader = app.get("file_uploader")[0]
    uploader.set_value([("a.png", _png_bytes("bag_00018.png"), "image/png"),
                        ("b.png", _png_bytes("coat_00006.png"), "image/png")]).run()
    assert_clean(app)
    assert [item.name for item in app.session_state["lab_images"]] == ["a.png", "b.png"]
    transparent = io.BytesIO()
    Image.new("RGBA", (40, 40), (255, 255, 255, 0)).save(transparent, format="PNG")
    app.get("file_uploader")[0].set_value([("a.png", _png_bytes("bag_00018.png"), "image/png"),
                                          ("broken.png", b"\x89PNG broken", "image/png"),
                                          ("clear.png", transparent.getvalue(), "image/png")]).run()
    assert not app.exception
    assert any("broken.png is not an image" in shown(error.value) for error in app.sidebar.error)
    # The broken file is named and skipped; the good ones stay, with what loading did to them.
    assert [item.name for item in app.session_state["lab_images"]] == ["a.png", "clear.png"]
    assert "clear.png: transparency flattened onto black" in [shown(caption.value) for caption in app.sidebar.caption]


def test_camera_picture_is_the_image(zoo_env):
    app = run_app()
    app.radio(key="image_source").set_value("Camera").run()
    photo = io.BytesIO()
    Image.open(SAMPLES / "sandal_00008.png").save(photo, format="JPEG")
    app.camera_input[0].upload("shot.jpg", photo.getvalue()).run()
    assert_clean(app)
    assert [item.name for item in app.session_state["lab_images"]] == ["camera.jpg"]


def test_torchvision_offline_says_so_and_takes_a_weights_file(zoo_env, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    app = run_app()
    app.radio(key="model_source").set_value("Torchvision").run()
    app.selectbox(key="torchvision_name").set_value("squeezenet1_1").run()
    app.button(key="torchvision_download").click().run()
    assert not app.exception
    assert any("could not be reached: no network" in error.value and "upload it below" in error.value
               and "<urlopen" not in shown(error.value) for error in app.sidebar.error)
    app.radio(key="torchvision_source").set_value("weights file (offline)").run()
    buffer = io.BytesIO()
    torch.save(torchvision.models.squeezenet1_1().state_dict(), buffer)
    app.get("file_uploader")[0].upload("squeezenet1_1.pth", buffer.getvalue()).run()
    assert_clean(app)
    loaded = app.session_state["lab_model"]
    assert loaded.label == "squeezenet1_1" and loaded.input_size == (3, 224, 224) and len(loaded.classes) == 1000


def test_torchvision_random_weights_need_no_network_and_say_what_they_show(zoo_env, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    app = run_app()
    app.radio(key="model_source").set_value("Torchvision").run()
    app.selectbox(key="torchvision_name").set_value("squeezenet1_1").run()
    app.radio(key="torchvision_source").set_value("random weights (structure only)").run()
    assert_clean(app)
    assert any("not the redundancy a trained network learns" in caption.value and "meaningless" in caption.value
               for caption in app.sidebar.caption)
    loaded = app.session_state["lab_model"]
    assert loaded.label == "squeezenet1_1 (random weights)" and loaded.meta is None
    assert not (tmp_path / "hub").exists()  # nothing was downloaded
