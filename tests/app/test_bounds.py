"""The app's resource bounds (lab.bounds): images per analysis, the resolution analyses run at, and how many
channels, filters and images a figure draws, each said on the page when it cuts."""

import io

import pytest
from PIL import Image

import lab
import lab.bounds
from lab.bounds import MAX_IMAGES
from lab.images import sample_names
from tests.app.apptest_helpers import assert_clean, run_app


def _captions(app) -> list[str]:
    """The page's captions, those under figures included."""
    under_figures = [caption for image in app.get("image") for caption in image.captions]
    return [caption.value for caption in app.caption] + under_figures


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_at_most_max_samples(zoo_env):
    app = run_app()
    samples = app.multiselect(key="sample_names")
    assert samples.proto.max_selections == MAX_IMAGES  # Streamlit refuses more, in the browser and the server
    samples.set_value(sample_names()[:MAX_IMAGES]).run()
    assert_clean(app)
    assert len(app.session_state["lab_images"]) == MAX_IMAGES


def test_at_most_max_uploads_and_the_sidebar_says_so(zoo_env):
    app = run_app()
    app.radio(key="image_source").set_value("Upload").run()
    files = [(f"{index}.png", _png((8, 8)), "image/png") for index in range(MAX_IMAGES + 2)]
    app.get("file_uploader")[0].set_value(files).run()
    assert_clean(app)
    assert len(app.session_state["lab_images"]) == MAX_IMAGES
    assert [w.value for w in app.sidebar.warning] == [
        f"Using the first {MAX_IMAGES} of {MAX_IMAGES + 2} images: one analysis runs on at most {MAX_IMAGES}."]


@pytest.mark.slow
def test_a_large_upload_is_analysed_at_the_model_input_size(zoo_env):
    app = run_app()
    app.radio(key="image_source").set_value("Upload").run()
    app.get("file_uploader")[0].upload("large.png", _png((3000, 2000))).run()
    app.switch_page("app_pages/feature_maps.py").run()
    assert_clean(app)
    model, images = app.session_state["lab_model"], app.session_state["lab_images"]
    assert lab.model_batch(model, images).shape == (1, *model.input_size)


@pytest.mark.slow
def test_feature_map_grid_says_how_many_channels_it_shows(zoo_env, monkeypatch):
    app = run_app("app_pages/feature_maps.py")  # layer 1 has 16 channels: all drawn
    assert not [c for c in _captions(app) if c.startswith("Showing")]
    monkeypatch.setattr(lab.bounds, "MAX_GRID_CHANNELS", 8)
    app.run()
    assert_clean(app)
    assert "Showing 8 of 16 channels, the first in cluster order." in _captions(app)


@pytest.mark.slow
def test_filter_heatmap_says_how_many_filters_it_shows(zoo_env, monkeypatch):
    monkeypatch.setattr(lab.bounds, "MAX_HEATMAP_FILTERS", 8)
    app = run_app("app_pages/filters.py")
    app.selectbox(key="filters_layer").set_value("conv1").run()
    assert_clean(app)
    assert "Showing 8 of 16 filters, the first primaries." in _captions(app)


def test_overview_says_how_many_images_it_draws(zoo_env, monkeypatch):
    monkeypatch.setattr(lab.bounds, "MAX_IMAGES_SHOWN", 2)
    app = run_app()
    assert "Showing 2 of 17 images; the analyses use all of them." in _captions(app)
