"""Pages open on the layer where their effect is clearest, say why, and work for every operator's model."""

import statistics

import pytest

import slimconv
from tests.app.apptest_helpers import assert_clean, download_names, run_app


def _reason(app) -> str:
    found = [caption.value for caption in app.caption if caption.value.startswith("Opened on **")]
    assert found, [caption.value for caption in app.caption]
    return found[0]


@pytest.mark.slow
@pytest.mark.parametrize(("page", "key", "scores_of"), [
    ("app_pages/feature_maps.py", "maps_layer", "alike"),
    ("app_pages/filters.py", "filters_layer", "filters"),
])
def test_default_layer_scores_above_the_median_layer_and_says_why(zoo_env, page, key, scores_of):
    import analysis
    from lab.images import default_sample_names, load_sample
    from lab.models import load_bundled
    from lab.selection import model_batch

    app = run_app(page)
    layer = app.selectbox(key=key).value
    assert f"**{layer}**" in _reason(app)
    model = load_bundled("resnet20-fashion", "cpu")
    if scores_of == "alike":
        images = [load_sample(name) for name in default_sample_names()]
        choice = analysis.most_alike_layer(model.model, model_batch(model, images), threshold=0.8)
    else:
        choice = analysis.most_correlated_filters_layer(model.model)
    assert choice.layer == layer
    assert choice.score > statistics.median(choice.scores.values())


@pytest.mark.slow
@pytest.mark.parametrize("op", slimconv.list_ops())
def test_filters_on_every_operator_shows_no_error(zoo_env, op):
    app = run_app()
    app.selectbox(key="convert_op").set_value(op).run()
    app.switch_page("app_pages/filters.py").run()
    assert_clean(app)
    assert app.title[0].value == "Filters"
    app.selectbox(key="filters_layer").set_value("layers.0.0.conv1").run()  # converted by every operator
    assert_clean(app)
    assert app.metric or app.info  # what applies, or why it does not


@pytest.mark.slow
def test_following_the_flgc_advice_converts_and_other_pages_keep_the_model(zoo_env):
    app = run_app("app_pages/flgc_groups.py")
    assert any("Convert to operator" in info.value for info in app.info)
    app.selectbox(key="convert_op").set_value("flgc").run()  # what the advice says, policy as in the paper
    assert_clean(app)
    assert any("the default placement there is 'except-stem'" in caption.value for caption in app.caption)
    assert app.selectbox(key="flgc_layer").value in _reason(app)
    assert app.metric[0].label == "Groups"
    for page in ("app_pages/overview.py", "app_pages/feature_maps.py", "app_pages/filters.py"):
        app.switch_page(page).run()
        assert_clean(app)
        assert not any("Choose a model" in info.value for info in app.info)


@pytest.mark.slow
def test_overview_points_at_the_most_redundant_layer(zoo_env):
    app = run_app()
    app.button(key="button_overview_profile").click().run()
    assert_clean(app)
    table = app.dataframe[-1].value
    best = table.loc[table["similar_pair_share"].idxmax(), "layer"]
    assert f"**{best}**" in _reason(app)
    assert table["similar_pair_share"].max() > table["similar_pair_share"].median()


@pytest.mark.slow
def test_attribution_keeps_its_methods_and_results_across_a_page_switch(zoo_env):
    app = run_app("app_pages/attribution.py")
    app.multiselect(key="attr_methods").set_value(["saliency"]).run()
    app.button(key="button_attributions").click().run()
    assert_clean(app)
    assert "Download attributions (PNG)" in download_names(app)
    app.switch_page("app_pages/overview.py").run()
    app.switch_page("app_pages/attribution.py").run()
    assert_clean(app)
    assert app.multiselect(key="attr_methods").value == ["saliency"]
    assert "Download attributions (PNG)" in download_names(app)  # shown again without a click


@pytest.mark.slow
def test_occlusion_says_how_long_it_will_take_before_it_runs(zoo_env):
    app = run_app("app_pages/attribution.py")
    app.multiselect(key="attr_methods").set_value(["occlusion"]).run()
    assert_clean(app)
    assert any(caption.value.startswith("Occlusion runs the model once per window") for caption in app.caption)
    assert "Download attributions (PNG)" not in download_names(app)  # nothing heavy before the click


def test_after_picking_another_layer_the_caption_names_both(zoo_env):
    app = run_app("app_pages/feature_maps.py")
    chosen = app.selectbox(key="maps_layer").value
    other = next(layer for layer in app.selectbox(key="maps_layer").options if layer != chosen)
    app.selectbox(key="maps_layer").set_value(other).run()
    assert_clean(app)
    assert not any(caption.value.startswith("Opened on") for caption in app.caption)  # it did not open there
    notes = [caption.value for caption in app.caption if caption.value.startswith("Showing your pick")]
    assert len(notes) == 1 and f"**{chosen}**" in notes[0] and f"**{other}**" in notes[0], notes
