"""The notebooks the lab's pages write: valid ``.ipynb``, and every value from a user only a literal in the code."""

from __future__ import annotations

import ast
import base64

import nbformat
import pytest
from PIL import Image

from analysis.notebooks import PAGES, ModelSource, NotebookImage, page_notebook

HOSTILE = "x'); __import__('os').system('echo owned') #\n\"\"\""
OPTIONS = {
    "Overview": {"metric": "pearson", "threshold": 0.8, "label": HOSTILE},
    "Feature maps": {"layer": HOSTILE, "metric": "pearson", "threshold": 0.8, "shown": 0, "pairs": 6, "max_maps": 64},
    "Filters": {"layer": HOSTILE, "r2_target": 0.95, "max_filters": 64},
    "SPConv split": {"spconv_layer": HOSTILE, "shown": 0, "dense_layer": HOSTILE, "alpha": 0.5, "metric": "pearson"},
    "FLGC groups": {"layer": HOSTILE},
    "Dynamic convolution": {"layer": HOSTILE, "shown": 0},
    "Attribution": {"methods": ["saliency", HOSTILE], "layer": HOSTILE},
    "Compare models": {"other": ModelSource("checkpoint", path=HOSTILE, op="spconv"), "debiased": True,
                       "label": HOSTILE, "other_label": HOSTILE},
    "Plan": {"budget": "macs", "target": 0.7, "edits": {HOSTILE: ("spconv", {"alpha": 0.5, HOSTILE: HOSTILE})},
             "changed": True, "evaluation": "fashion", "latency": {"batch": 8, "budget_s": 8, "block_time_s": 0.02},
             "finetune": {"epochs": 3, "subset": 2000}},
}
SOURCES = [ModelSource("zoo", "resnet20-fashion-dense"), ModelSource("torchvision", "resnet18", op="flgc"),
           ModelSource("torchvision-random", "mobilenet_v2"), ModelSource("torchvision-file", "vgg11", path=HOSTILE),
           ModelSource("checkpoint", path=HOSTILE, op="pedconv", policy="3x3")]


def _code_cells(text: str) -> list[str]:
    notebook = nbformat.reads(text, as_version=4)
    nbformat.validate(notebook)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def _parse(code: str) -> ast.Module:
    return ast.parse("\n".join(line for line in code.splitlines() if not line.startswith("%")))


def test_every_page_has_a_recipe_with_options():
    assert set(PAGES) == set(OPTIONS)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("source", SOURCES, ids=lambda source: f"{source.kind}-{source.op or 'as-is'}")
def test_hostile_names_stay_string_literals(page, source):
    images = [NotebookImage("bag_00018.png"), NotebookImage.embedded(HOSTILE, Image.new("RGB", (5, 4), "red"))]
    cells = _code_cells(page_notebook(page, "**What you are looking at:** ...", source, images, OPTIONS[page]))
    calls, strings = [], []
    for code in cells:
        tree = _parse(code)  # a name that broke out of its literal would not parse, or would add a call
        calls += [ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)]
        strings += [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)]
    assert HOSTILE in strings  # the name is there, whole, as one string
    assert not [call for call in calls if "system" in call or "__import__" in call]


def test_an_embedded_image_is_the_png_of_its_pixels():
    image = Image.new("L", (7, 3), 200)
    embedded = NotebookImage.embedded("mine.png", image)
    cells = _code_cells(page_notebook("Overview", "", ModelSource("zoo", "m"), [embedded], OPTIONS["Overview"]))
    assert base64.b64encode(embedded.png).decode() in "".join(cells)
    with Image.open(__import__("io").BytesIO(embedded.png)) as decoded:
        assert decoded.size == (7, 3) and decoded.getpixel((0, 0)) == 200


def test_a_converted_model_is_converted_with_the_labs_seed():
    code = "".join(_code_cells(page_notebook("Overview", "", ModelSource("zoo", "m", op="spconv", policy="3x3"),
                                             [NotebookImage("bag_00018.png")], OPTIONS["Overview"])))
    assert "torch.manual_seed(0)" in code and "slimconv.convert(model, 'spconv', policy='3x3')" in code


def test_bad_pages_sources_and_image_lists_are_refused():
    with pytest.raises(ValueError, match="no notebook for page 'Train'"):
        page_notebook("Train", "", SOURCES[0], [NotebookImage("a.png")], {})
    with pytest.raises(ValueError, match="at least one image"):
        page_notebook("Overview", "", SOURCES[0], [], OPTIONS["Overview"])
    with pytest.raises(ValueError, match="model source kind must be one of"):
        ModelSource("https://example.com/model.pt")
