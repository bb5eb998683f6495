"""Operator pages offer the zoo's checkpoint trained with their operator, and the button opens it."""

import pytest

from lab import PRETRAINED_DIR_VARIABLE
from tests.app.apptest_helpers import assert_clean, run_app
from tests.app.checkpoints import FOUR_MODEL_ZOO, write_test_zoo


@pytest.fixture
def four_model_zoo(tmp_path_factory, monkeypatch):
    folder = write_test_zoo(tmp_path_factory.mktemp("four"), FOUR_MODEL_ZOO)
    monkeypatch.setenv(PRETRAINED_DIR_VARIABLE, str(folder))
    return folder


def _offers(app) -> list[str]:
    return [button.label for button in app.button if button.label.startswith("Open the trained model")]


@pytest.mark.slow
def test_dynamic_conv_page_opens_the_trained_pedconv_model(four_model_zoo):
    app = run_app("app_pages/dynamic_conv.py")
    assert any("no PEDConv layer" in warning.value for warning in app.warning)
    assert _offers(app) == ["Open the trained model resnet20-pedconv-fashion"]
    next(b for b in app.button if b.label == _offers(app)[0]).click().run()
    assert_clean(app)
    assert app.session_state["zoo_name"] == "resnet20-pedconv-fashion"
    assert not app.warning and app.selectbox(key="pedconv_layer").options  # its PEDConv layers are shown


def test_pages_offer_only_what_the_zoo_has(four_model_zoo):
    assert _offers(run_app("app_pages/flgc_groups.py")) == []  # no FLGC checkpoint in this zoo
    filters = run_app("app_pages/filters.py")
    assert _offers(filters) == ["Open the trained model resnet20-linearconv-fashion"]


def test_dynamic_conv_page_opens_on_the_layer_that_adapts_most(monkeypatch):
    # The real bundled PEDConv model: most of its layers hardly depend on the image.
    monkeypatch.delenv(PRETRAINED_DIR_VARIABLE, raising=False)
    app = run_app()
    app.sidebar.selectbox(key="zoo_name").set_value("resnet20-fashion-pedconv").run()
    app.switch_page("app_pages/dynamic_conv.py").run()
    assert_clean(app)
    model = app.session_state["zoo_name"]
    assert model == "resnet20-fashion-pedconv"
    caption = next(c.value for c in app.caption if c.value.startswith("**How much each layer adapts**"))
    shown = app.selectbox(key="pedconv_layer").value
    assert f"images): {shown} the most" in caption
    table = next(frame.value for frame in app.dataframe if "layer" in frame.value.columns)
    assert table.iloc[:, 1].idxmax() == list(table["layer"]).index(shown)
    assert table.iloc[:, 1].max() > 10 * table.iloc[:, 1].median()  # a few layers adapt, most barely do
