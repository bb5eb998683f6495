import pytest
import torch

import analysis
from tests.app.apptest_helpers import assert_clean, download_names, run_app, shown


@pytest.mark.slow
def test_attribution_overlay_importance_and_side_by_side(zoo_env):
    app = run_app("app_pages/attribution.py")
    assert "Download attributions (PNG)" not in download_names(app)
    app.button(key="button_attributions").click().run()
    assert_clean(app)
    assert {"Download attributions (PNG)", "Download attribution comparison (PNG)"} <= set(download_names(app))
    captions = [image.caption for element in app.get("image") for image in element.proto.imgs]
    assert captions.count(f"Showing 4 of {len(app.multiselect(key='sample_names').value)} images (the first ones; "
                          "choose others in the sidebar).") == 2, captions
    app.button(key="attr_importance").click().run()
    assert_clean(app)
    assert app.metric[0].label == "Spearman rank correlation"
    assert "Download importance against redundancy (PNG)" in download_names(app)
    app.multiselect(key="attr_methods").set_value([]).run()
    assert any("at least one method" in info.value for info in app.info)


@pytest.mark.slow
def test_compare_models_cka_and_zoo_latency(zoo_env):
    app = run_app("app_pages/compare_models.py")
    app.button(key="button_compare_cka").click().run()  # the heavy panel starts on a click
    assert {"Download cka (PNG)", "Download zoo (CSV)"} <= set(download_names(app))
    table = app.dataframe[-1].value
    assert list(table["checkpoint"]) == ["resnet20-fashion", "resnet20-linearconv-fashion"]
    assert list(table["operator"]) == ["conv2d", "linearconv"]
    app.button(key="compare_measure").click().run()
    assert_clean(app)
    table = app.dataframe[-1].value
    assert list(table.columns[:2]) == ["checkpoint", "latency ms (cpu, batch 1)"]  # in sight, beside the name
    for cell in table["latency ms (cpu, batch 1)"]:  # a median with its interval, "~" when noisy
        median, low, high = (float(v) for v in cell.lstrip("~").translate(str.maketrans("", "", "[],")).split())
        assert 0 < low <= median <= high
    assert any(shown(caption.value).startswith("Latency: median forward time") for caption in app.caption)


def test_pages_without_a_model_ask_for_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SLIMCONV_PRETRAINED_DIR", str(tmp_path))
    app = run_app()
    app.radio(key="model_source").set_value("Torchvision").run()
    app.switch_page("app_pages/compare_models.py").run()
    assert not app.exception
    assert any("Choose a model" in info.value for info in app.info)


@pytest.mark.slow
def test_training_run_becomes_a_selectable_model(zoo_env):
    app = run_app("app_pages/train_demo.py")
    app.slider(key="train_subset").set_value(200)
    app.slider(key="train_epochs").set_value(1)
    app.button[0].click().run()
    assert_clean(app)
    assert "test accuracy" in app.success[0].value
    assert len(app.dataframe[0].value) == 1
    assert "Trained here" in app.radio(key="model_source").options
    app.radio(key="model_source").set_value("Trained here").run()
    assert_clean(app)
    assert app.session_state["lab_model"].label.startswith("resnet20, 200 images")


def test_pages_leave_the_cached_model_untouched(zoo_env):
    app = run_app()
    model = app.session_state["lab_model"].model
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    for page in ("app_pages/feature_maps.py", "app_pages/spconv_split.py", "app_pages/attribution.py"):
        app.switch_page(page).run()
    app.button(key="button_attributions").click().run()
    assert_clean(app)
    assert app.session_state["lab_model"].model is model  # the same cached object
    assert analysis.attached_hook_count(model) == 0 and not model.training
    assert all(torch.equal(tensor, state[name]) for name, tensor in model.state_dict().items())
