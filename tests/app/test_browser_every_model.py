"""Every analysis page, in Chromium, for every zoo model and the dense model converted to every operator:
no error box and no exception by default."""

from __future__ import annotations

import pytest

import slimconv
from lab import PRETRAINED_DIR_VARIABLE
from tests.app.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    choose,
    error_texts,
    exception_texts,
    open_page,
    playwright_or_skip,
    streamlit_server,
    wait_until_idle,
)
from tests.app.checkpoints import TEST_ZOO

sync_api = playwright_or_skip()

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Navigation label -> title of every analysis page (Compare models and Train belong to other tests).
ANALYSIS_PAGES = {"Overview": "Redundancy in convolutional networks", "Feature maps": "Feature maps",
                  "Filters": "Filters", "SPConv split": "SPConv split", "FLGC groups": "FLGC groups",
                  "Dynamic convolution": "Dynamic convolution (PEDConv)", "Attribution": "Attribution"}


def _visit_every_page(page, model: str, problems: list[str]) -> None:
    for label, title in ANALYSIS_PAGES.items():
        open_page(page, label, title)
        found = error_texts(page) + exception_texts(page)
        problems.extend(f"{model} / {label}: {text}" for text in found)


def test_every_analysis_page_for_every_model_and_conversion(test_zoo, tmp_path):
    problems: list[str] = []
    with streamlit_server({PRETRAINED_DIR_VARIABLE: str(test_zoo)}, tmp_path / "server.log") as url, \
            sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("heading", name=ANALYSIS_PAGES["Overview"]).wait_for(timeout=120_000)
        wait_until_idle(page, run_started=True)
        for name in TEST_ZOO:
            choose(page, "Checkpoint", name)
            _visit_every_page(page, name, problems)
        choose(page, "Checkpoint", next(iter(TEST_ZOO)))
        for op in slimconv.list_ops():
            choose(page, "Convert to operator", op)
            _visit_every_page(page, f"dense -> {op}", problems)
        browser.close()
    assert not problems, problems
