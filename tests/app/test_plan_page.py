"""The Plan page: the plan applied changes exactly the planned layers; a bad edit is refused with a clear message."""

import pytest
import torch
from torch import nn

import analysis
import slimconv
from lab.models import LoadedModel
from lab.plan import edited_plan, plan_table
from tests.app.apptest_helpers import assert_clean, run_app
from tests.app.checkpoints import write_test_zoo


@pytest.mark.slow
def test_applying_the_plan_replaces_exactly_the_planned_layers(zoo_env):
    app = run_app("app_pages/plan.py")
    app.button(key="button_plan_propose").click().run()
    assert_clean(app)
    app.button(key="plan_apply").click().run()
    assert_clean(app)
    applied = app.session_state["plan_applied"]
    planned_names = set(applied.plan.mapping())
    assert planned_names and {layer.name for layer in applied.report.replaced} == planned_names
    original = dict(applied.planned.model.named_modules())
    for proposal in applied.plan.layers:
        replaced = type(original[proposal.name]) is not nn.Conv2d
        assert replaced == (proposal.name in planned_names), proposal.name
    changed = next(df.value for df in app.dataframe if "was" in df.value.columns)
    assert set(changed["layer"]) == planned_names
    assert applied.outcome.macs_after == applied.plan.macs_after and applied.outcome.params_after == \
        applied.plan.params_after  # the prediction is what convert builds

    app.slider(key="plan_latency_budget").set_value(3).run()
    app.selectbox(key="plan_latency_batch").set_value(1).run()
    app.button(key="plan_latency").click().run()
    assert_clean(app)
    metrics = {metric.label: metric for metric in app.metric}
    ratio, macs = metrics["Time, planned / original"], metrics["MACs, planned / original (the ideal)"]
    share = metrics["Speed, share of what the MACs allow"]
    interval = share.help.split("95% interval ")[1].split(" ")[0]
    low, high = (float(part.rstrip("%")) / 100 for part in interval.split("-"))
    shown = float(share.value.lstrip("~").rstrip("%")) / 100
    assert low <= shown + 0.005 and shown <= high + 0.005  # the share's own interval holds its value
    assert abs(shown - float(macs.value) / float(ratio.value.lstrip("~"))) < 0.02
    noisy = any("NOISY" in warning.value or "noisy" in warning.value for warning in app.warning)
    assert ratio.value.startswith("~") == share.value.startswith("~") == noisy


def test_a_bad_edit_names_the_layer_and_the_reason(tmp_path):
    folder = write_test_zoo(tmp_path)
    handle = slimconv.load_pretrained("resnet20-fashion", folder)
    model = LoadedModel("k", "m", handle.model.eval(), handle.preprocess, handle.classes, handle.meta.input_size,
                        "cpu")
    images = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    plan = analysis.propose_plan(model.model, images, budget="macs", target=0.8)
    table = plan_table(plan)
    row = table.index[table["layer"] == "layers.0.0.conv1"][0]
    table.loc[row, ["op", "options"]] = ["spconv", "alpha=7"]
    with pytest.raises(ValueError, match="alpha"):
        edited_plan(plan, model, table)
    table.loc[row, ["op", "options"]] = ["spconv", "alpha"]
    with pytest.raises(ValueError, match="layers.0.0.conv1: .*key=value"):
        edited_plan(plan, model, table)


def test_the_cka_chart_names_every_layer_in_forward_order():
    """A vertical bar chart drops or cuts the names of a deep model's layers; the bars are horizontal, one row
    per layer, names in full, in the order the table gives."""
    import pandas as pd

    from lab.plan import cka_chart

    names = [f"features.{i}.block.conv{i % 3}" for i in range(53)]
    replaced = [i % 2 == 0 for i in range(53)]
    table = pd.DataFrame({"layer": names, "CKA to the original": [0.5] * 53, "replaced": replaced})
    spec = cka_chart(table).to_dict()
    y = spec["encoding"]["y"]
    assert y["field"] == "layer" and y["sort"] is None
    assert y["axis"]["labelLimit"] == 0 and y["axis"]["labelOverlap"] is False
    assert spec["encoding"]["x"]["field"] == "CKA to the original"
    rows = next(iter(spec["datasets"].values()))
    assert [row["layer"] for row in rows] == names
    assert {row["layer_kind"] for row in rows} == {"replaced", "kept"}
