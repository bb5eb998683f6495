import pytest
import torch
from streamlit.testing.v1 import AppTest

import slimconv
from lab.benchmark import rows_table
from slimconv.bench import BenchRow
from tests.app.apptest_helpers import assert_clean, download_names, run_app, shown


def _converted(op: str, page: str, policy: str = "(as in the paper)") -> AppTest:
    app = run_app()
    app.selectbox(key="convert_op").set_value(op).run()
    app.selectbox(key="convert_policy").set_value(policy).run()
    app.switch_page(page).run()
    assert_clean(app)
    return app


@pytest.mark.slow
def test_benchmark_checks_options_before_timing_then_runs(zoo_env):
    app = run_app("app_pages/benchmark.py")
    assert any("run the benchmark" in info.value for info in app.info)
    app.number_input(key="bench_in").set_value(8)
    app.number_input(key="bench_out").set_value(8)
    app.number_input(key="bench_size").set_value(8)
    app.text_input(key="bench_ops").set_value("spconv hetconv:part=3")  # 3 does not divide 8
    app.slider(key="bench_budget").set_value(5)
    app.button[0].click().run()
    assert any("part=3 must divide" in shown(error.value) for error in app.error) and not app.dataframe
    app.text_input(key="bench_ops").set_value("spconv hetconv:part=2")
    app.button[0].click().run()
    assert_clean(app)
    table = app.dataframe[0].value
    assert list(table["label"])[0] == "conv2d" and len(table) == 5 and table["error"].isna().all()
    assert list(table["what"]) == ["baseline (dense)"] + ["training form (not what you deploy)",
                                                          "deploy form (what you ship)"] * 2
    assert (table["ratio_low"] <= table["ratio"]).all() and (table["ratio"] <= table["ratio_high"]).all()
    assert table["median_ms"].gt(0).all() and table["noisy"].isin([True, False]).all()
    noisy = set(table.loc[table["noisy"], "label"]) - {"conv2d"}  # the baseline's ratio is 1 by definition
    warned = " ".join(shown(w.value) for w in app.warning)
    assert all(label in warned for label in noisy) and (("NOISY" in warned) == bool(noisy))
    assert app.get("vega_lite_chart"), "the ratio chart is drawn"
    assert "Download benchmark (CSV)" in download_names(app)


def test_a_noisy_baseline_is_not_listed_among_the_ratios_not_to_trust(zoo_env):
    """A baseline at two speeds makes every row noisy; its own ratio is 1 by definition, not a ratio to distrust."""
    verdict = "NOISY (95% intervals within ±3%, target ±5%): ran at more than one speed: conv2d 9 to 16 ms per call"
    rows = [BenchRow("c", label, form, 10, 0, 100, median_ms=1.0, ratio=ratio, ratio_low=ratio, ratio_high=ratio,
                     noisy=True, mac_ratio=0.5, ideal_share=0.5, verdict=verdict)
            for label, form, ratio in (("conv2d", "dense", 1.0), ("spconv deploy", "deploy", 0.7))]
    app = run_app("app_pages/benchmark.py")
    app.session_state["bench_result"] = ("c", "cpu, float32, inference", rows_table(rows))
    app.run()
    (warning,) = [shown(w.value) for w in app.warning if "NOISY" in w.value]
    assert warning.startswith("NOISY: do not trust the ratios of spconv deploy. NOISY (95%")


@pytest.mark.parametrize(
    ("specs", "message"),
    [("spconv:alpha", "must look like key=value"), ("nosuchop", "nosuchop"), ("spconv:beta=2", "beta"),
     ("", "at least one")],
)
def test_benchmark_explains_bad_operator_specs(zoo_env, specs, message):
    app = run_app("app_pages/benchmark.py")
    app.text_input(key="bench_ops").set_value(specs)
    app.button[0].click().run()
    assert any(message in shown(error.value) for error in app.error), [e.value for e in app.error]
    assert not app.exception and not app.dataframe


@pytest.mark.slow
def test_benchmark_compares_the_sidebar_model_whole(zoo_env):
    app = run_app("app_pages/benchmark.py")
    app.radio(key="bench_scope").set_value("Whole model").run()
    assert app.selectbox(key="bench_model").value.startswith("the sidebar's model (")
    app.text_input(key="bench_ops").set_value("flgc:groups=4")
    app.slider(key="bench_budget").set_value(5)
    app.button[0].click().run()
    assert_clean(app)
    table = app.dataframe[0].value
    assert table["label"].iloc[0].endswith(" dense") and len(table) == 3
    deployed = table[table["what"] == "deploy form (what you ship)"].iloc[0]
    assert deployed["macs"] < table["macs"].iloc[0]
    assert deployed["ratio_low"] <= deployed["ratio"] <= deployed["ratio_high"]


def test_spconv_page_on_a_dense_model_moves_with_alpha(zoo_env):
    app = run_app("app_pages/spconv_split.py")
    before = app.dataframe[0].value
    app.slider(key="spconv_alpha").set_value(0.25).run()
    assert_clean(app)
    after = app.dataframe[0].value
    assert after["representative channels"].tolist() != before["representative channels"].tolist()


def test_spconv_page_on_an_spconv_model_shows_both_branches(zoo_env):
    app = _converted("spconv", "app_pages/spconv_split.py")
    assert [m.label for m in app.metric][:2] == ["Representative channels", "Redundant channels"]
    assert {"Download spconv branches (PNG)", "Download fusion weights (CSV)"} <= set(download_names(app))


@pytest.mark.slow
def test_flgc_page_needs_an_flgc_layer_and_then_shows_groups(zoo_env):
    app = run_app("app_pages/flgc_groups.py")
    assert any("no FLGC layer" in info.value for info in app.info)
    app = _converted("flgc", "app_pages/flgc_groups.py", policy="3x3")
    assert app.metric[0].value == "8"
    assert "Download flgc groups (PNG)" in download_names(app)
    first = app.dataframe[0].value
    app.selectbox(key="flgc_layer").set_value(app.selectbox(key="flgc_layer").options[-1]).run()
    assert_clean(app)
    assert not app.dataframe[0].value.equals(first)


def test_flgc_page_on_a_dense_model_shows_what_a_fixed_grouping_keeps(zoo_env):
    app = run_app("app_pages/flgc_groups.py")
    shares = {metric.label: metric.value for metric in app.metric}
    kept, chance, random = (float(shares[label].rstrip("%")) for label in (
        "Energy kept by the grouping found", "Same search, shuffled weights", "Random grouping"))
    assert random == 25 and kept >= random and chance >= random  # 4 groups by default
    assert "Download dense grouping (PNG)" in download_names(app)
    layer = app.selectbox(key="dense_group_layer").value
    assert any(layer in caption.value and "shuffled weights" in caption.value for caption in app.caption)
    app.selectbox(key="dense_groups").set_value(2).run()
    assert_clean(app)
    assert {metric.label: metric.value for metric in app.metric}["Random grouping"] == "50%"


def test_dynamic_conv_page_follows_the_image(zoo_env):
    app = _converted("pedconv", "app_pages/dynamic_conv.py")
    assert any("perturbs nothing" in info.value for info in app.info)  # converted on the fly: untrained factors
    assert "Download gamma per filter for ankle-boot_00000.png (CSV)" in download_names(app)
    app.selectbox(key="pedconv_image").set_value(16).run()
    assert_clean(app)
    assert "Download gamma per filter for flower.jpg (CSV)" in download_names(app)
    assert list(app.dataframe[0].value.columns) == ["filter", "gamma, rank term 0"]


@pytest.mark.slow
def test_dynamic_conv_page_explains_a_layer_the_forward_pass_skips(zoo_env, tmp_path):
    # GoogLeNet's auxiliary classifiers run only in training: converted with policy "all", their
    # 1x1 convs are PEDConv layers the eval forward never reaches.
    torch.manual_seed(0)
    model = slimconv.create_model("googlenet", op="pedconv", policy="all", num_classes=3).eval()
    spec = slimconv.InputSpec(in_chans=3, resize=64, crop=64, pad=0, mean=(0.5,) * 3, std=(0.25,) * 3)
    meta = slimconv.CheckpointMeta.for_model(model, model_name="googlenet", op="pedconv", policy="all",
                                             options={}, input=spec, classes=("a", "b", "c"), dataset="none",
                                             metrics={})
    path = slimconv.save_checkpoint(tmp_path / "googlenet-pedconv.pt", model, meta)
    app = run_app()
    app.radio(key="model_source").set_value("Checkpoint file").run()
    app.get("file_uploader")[0].upload(path.name, path.read_bytes()).run()
    app.switch_page("app_pages/dynamic_conv.py").run()
    assert_clean(app)
    app.selectbox(key="pedconv_layer").set_value("aux1.conv.conv").run()
    assert not app.exception
    assert any("layer aux1.conv.conv: it did not run in the forward pass" in shown(error.value) for error in app.error)


def test_the_sidebar_offers_only_placements_that_select_a_layer_of_the_model():
    """The bundled ResNet-20 has no 1x1 projection: "projection-1x1" would convert nothing, so it is not offered."""
    app = run_app()
    app.selectbox(key="convert_op").set_value("flgc").run()
    options = app.selectbox(key="convert_policy").options
    assert "projection-1x1" not in options and {"all", "3x3", "except-stem"} <= set(options)
    assert_clean(app)
    assert app.session_state["lab_model"].label.endswith("-> flgc")


def test_a_conversion_that_fails_keeps_the_model_as_loaded(monkeypatch):
    import lab.sidebar

    def refuse(*_args):
        raise ValueError("no convolution to convert")

    monkeypatch.setattr(lab.sidebar, "load_converted", refuse)
    app = run_app()
    loaded = app.session_state["lab_model"].label
    app.selectbox(key="convert_op").set_value("spconv").run()
    assert not app.exception
    assert ["no convolution to convert" in error.value for error in app.error] == [True]
    assert any("show the model as loaded" in caption.value for caption in app.caption)
    assert app.session_state["lab_model"].label == loaded  # the pages go on with it: no "Choose a model"
