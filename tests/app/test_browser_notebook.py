""""Download as notebook" in Chromium: the Feature maps page of the default model and of a converted one gives an
``.ipynb`` that names the page's layer and the sidebar's images."""

from __future__ import annotations

import re

import nbformat
import pytest

from lab import PRETRAINED_DIR_VARIABLE
from tests.app.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    choose,
    open_page,
    playwright_or_skip,
    streamlit_server,
    wait_until_idle,
)

sync_api = playwright_or_skip()

pytestmark = pytest.mark.browser


def _download(page, tmp_path, name: str):
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download as notebook").click()
    path = tmp_path / name
    download.value.save_as(path)
    return download.value.suggested_filename, nbformat.read(path, as_version=4)


def test_feature_maps_notebook_downloads(test_zoo, tmp_path):
    server = streamlit_server({PRETRAINED_DIR_VARIABLE: str(test_zoo)}, tmp_path / "server.log")
    with server as url, sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("heading", name="Redundancy in convolutional networks").wait_for(timeout=120_000)
        open_page(page, "Feature maps", "Feature maps")
        for op in (None, "spconv"):
            if op:
                choose(page, "Convert to operator", op)
                # on a busy machine the rerun can start after choose() stopped waiting for it: wait for its result
                page.get_by_test_id("stSidebar").get_by_text(re.compile(f"(->|→) {op}")).first.wait_for(timeout=60_000)
                wait_until_idle(page)
            file_name, notebook = _download(page, tmp_path, f"{op}.ipynb")
            nbformat.validate(notebook)
            code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
            assert file_name.startswith("Feature-maps-resnet20-fashion") and file_name.endswith(".ipynb")
            layer = re.search(r"LAYER, METRIC, THRESHOLD = '([^']+)'", code).group(1)
            assert page.get_by_text(f"Opened on {layer}:").count() >= 1  # the layer the page shows
            assert "'bag_00018.png'" in code or "_0" in code  # the default samples, by name
            assert (f"slimconv.convert(model, {op!r}" in code) == bool(op)
