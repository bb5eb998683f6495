import pytest

from tests.app.apptest_helpers import assert_clean, download_names, image_count, run_app


def test_overview_shows_cost_and_the_profile_on_request(zoo_env):
    app = run_app()
    assert "Redundancy" in app.title[0].value
    assert app.metric[0].label == "Parameters"
    assert "Download parameters and MACs per layer (CSV)" in download_names(app)
    assert "Download redundancy profile (PNG)" not in download_names(app)
    app.button(key="button_overview_profile").click().run()
    assert_clean(app)
    assert "Download redundancy profile (PNG)" in download_names(app)
    before = app.dataframe[-1].value
    app.slider(key="overview_threshold").set_value(0.6).run()
    assert_clean(app)
    assert not app.dataframe[-1].value.equals(before)


def test_feature_maps_follow_the_layer(zoo_env):
    app = run_app("app_pages/feature_maps.py")
    assert image_count(app) >= 3  # grid, heatmap, ghost pairs
    assert {"Download feature maps (PNG)", "Download channel similarity (PNG)", "Download ghost pairs (CSV)"} <= set(
        download_names(app))
    scores = app.dataframe[0].value
    assert list(scores["image"])[0].startswith("all 17 images")
    app.selectbox(key="maps_layer").set_value("layers.2.0.conv1").run()
    assert_clean(app)
    assert app.dataframe[0].value["channels"].iloc[0] == 64 != scores["channels"].iloc[0]
    app.slider(key="maps_pairs").set_value(2).run()
    assert_clean(app)
    assert len(app.dataframe[1].value) == 2


@pytest.mark.slow
def test_filters_of_a_dense_layer_and_of_a_linearconv_layer(zoo_env):
    app = run_app("app_pages/filters.py")
    app.selectbox(key="filters_layer").set_value("conv1").run()  # 16 filters of 9 weights: rank <= 9
    needed = app.metric[2].value
    app.slider(key="filters_r2").set_value(0.6).run()
    assert_clean(app)
    assert app.metric[2].value != needed
    assert "Download singular spectrum (PNG)" in download_names(app)
    app.selectbox(key="zoo_name").set_value("resnet20-linearconv-fashion").run()
    app.selectbox(key="filters_layer").set_value("layers.0.0.conv1").run()
    assert_clean(app)
    assert [m.label for m in app.metric][:2] == ["Primary filters", "Secondary filters"]
