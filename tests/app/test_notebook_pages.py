""""Download as notebook": each analysis page's notebook runs clean (nbclient, ipykernel) for the bundled default
model, an operator model of the zoo and a model converted on the fly, and prints the number the page shows."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

import lab.notebook
from tests.app.apptest_helpers import assert_clean, run_app

nbclient = pytest.importorskip("nbclient", reason="nbclient (requirements-dev.txt) runs the notebooks")

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DEFAULT, CONVERTED = ("zoo", None), ("zoo", "spconv")


def _metric(app, label: str) -> str:
    return next(metric.value for metric in app.metric if metric.label == label)


def _clusters(app) -> str:
    return next(caption.value for caption in app.caption if caption.value.endswith("channels."))


#: page file, (checkpoint or None for the default, operator to convert to), what to click, the page's number
#: read back and the line the notebook prints for it.
CASES = {
    "overview": ("app_pages/overview.py", (None, None), None,
                 lambda app: f"Parameters: {_metric(app, 'Parameters')}"),
    "feature_maps": ("app_pages/feature_maps.py", (None, None), None, _clusters),
    "feature_maps_converted": ("app_pages/feature_maps.py", (None, "spconv"), None, _clusters),
    "filters": ("app_pages/filters.py", (None, None), None,
                lambda app: f"Effective rank: {_metric(app, 'Effective rank')}"),
    "filters_linearconv": ("app_pages/filters.py", ("resnet20-fashion-linearconv", None), None,
                           lambda app: f"Primary filters: {_metric(app, 'Primary filters')}"),
    "spconv_split": ("app_pages/spconv_split.py", ("resnet20-fashion-spconv-half", None), None,
                     lambda app: f"Representative channels: {_metric(app, 'Representative channels')}"),
    "flgc_groups": ("app_pages/flgc_groups.py", ("resnet20-fashion-flgc", None), None,
                    lambda app: f"Groups: {_metric(app, 'Groups')},"),
    "dynamic_conv": ("app_pages/dynamic_conv.py", ("resnet20-fashion-pedconv", None), None, None),
    "attribution": ("app_pages/attribution.py", (None, None), None, None),
    "compare_models": ("app_pages/compare_models.py", (None, None), "Compare every pair of layers", None),
    "plan": ("app_pages/plan.py", (None, None), "Propose a plan",
             lambda app: f"Predicted parameters: {_metric(app, 'Predicted parameters')} of"),
    "plan_converted": ("app_pages/plan.py", (None, "spconv"), "Propose a plan",
                       lambda app: f"Predicted MACs per image: {_metric(app, 'Predicted MACs per image')} of"),
}

#: The plan keeps every layer of a model converted to SPConv (no dense 3x3 left to slim): its table, no figure.
TABLE_ONLY = {"plan_converted"}


def _page_notebook(monkeypatch, page: str, checkpoint: str | None, op: str | None, click: str | None) -> tuple:
    written: list[str] = []
    original = lab.notebook.page_notebook

    def recording(*args, **kwargs):
        written.append(original(*args, **kwargs))
        return written[-1]

    monkeypatch.setattr(lab.notebook, "page_notebook", recording)
    app = run_app()
    if checkpoint:
        app.selectbox(key="zoo_name").set_value(checkpoint).run()
    if op:
        app.selectbox(key="convert_op").set_value(op).run()
    written.clear()  # the notebooks of the page the app opened on are not this page's
    app.switch_page(page).run()
    if click:
        next(button for button in app.button if button.label == click).click().run()
    assert_clean(app)
    assert written, "the page offered no notebook"
    return app, nbformat.reads(written[-1], as_version=4)


def _outputs(notebook) -> tuple[str, int]:
    text, images = "", 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text += output.get("text", "") if output.get("name") == "stdout" else ""
            images += "image/png" in output.get("data", {})
    return text, images


@pytest.mark.parametrize("case", CASES)
def test_the_page_notebook_runs_clean_and_prints_the_pages_number(monkeypatch, case):
    page, (checkpoint, op), click, page_number = CASES[case]
    app, notebook = _page_notebook(monkeypatch, page, checkpoint, op, click)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    printed, figures = _outputs(notebook)
    assert figures >= 1 or case in TABLE_ONLY, "the notebook drew no figure"
    if page_number is not None:
        expected = re.sub(r"\*\*", "", page_number(app))
        assert expected in printed, (expected, printed)


@pytest.mark.slow
def test_the_plan_notebook_takes_the_sliders_of_the_run_it_is_offered_in(monkeypatch):
    """The notebook button is drawn above the latency and fine-tune sliders: it must still read their new values."""
    app, _ = _page_notebook(monkeypatch, "app_pages/plan.py", None, None, "Propose a plan")
    app.button(key="plan_apply").click().run()
    assert_clean(app)
    written: list[str] = []
    original = lab.notebook.page_notebook
    monkeypatch.setattr(lab.notebook, "page_notebook", lambda *a, **k: written.append(original(*a, **k)) or written[-1])
    app.slider(key="plan_latency_budget").set_value(11).run()
    app.slider(key="plan_tune_epochs").set_value(4).run()
    source = "\n".join(cell.source for cell in nbformat.reads(written[-1], as_version=4).cells)
    assert "BATCH, TIME_BUDGET_S = 8, 11" in source  # the page's batch 8, the budget just set
    assert "FINETUNE, EPOCHS, SUBSET = False, 4, " in source
