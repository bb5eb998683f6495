"""The real app in a real browser: every page renders without an exception box, an upload works, and
the cold start and page-switch times are logged (targets in docs/, not asserted)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from lab import PRETRAINED_DIR_VARIABLE
from tests.app.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    as_shown,
    choose,
    exception_texts,
    open_page,
    playwright_or_skip,
    screenshot_whole_page,
    streamlit_server,
    wait_until_idle,
)

sync_api = playwright_or_skip()

pytestmark = pytest.mark.browser

SHOTS_COPY = Path("/tmp/app_shots")
SAMPLE_UPLOAD = Path(__file__).resolve().parents[2] / "slimconv/models/samples/fashion-mnist/bag_00018.png"
#: Navigation label -> the page's title, in the order the test visits them.
PAGES = {"Feature maps": "Feature maps", "Filters": "Filters", "SPConv split": "SPConv split",
         "Compare models": "Compare models", "Overview": "Redundancy in convolutional networks"}
#: Operator pages shown on the default model converted on the fly: label -> (title, operator, layers to convert).
OPERATOR_PAGES = {"SPConv split": ("SPConv split", "spconv", "(as in the paper)"),
                  "FLGC groups": ("FLGC groups", "flgc", "3x3"),
                  "Dynamic convolution": ("Dynamic convolution (PEDConv)", "pedconv", "(as in the paper)")}


def _check_and_shoot(page, name: str, shots: Path) -> None:
    page.mouse.move(0, 0)  # no tooltip in the shot
    errors = exception_texts(page)
    screenshot_whole_page(page, shots / f"{name}.png")
    assert not errors, f"exception on {name}: {errors}"


def test_every_page_in_chromium(test_zoo, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    log: list[str] = []
    started = time.perf_counter()
    server = streamlit_server({PRETRAINED_DIR_VARIABLE: str(test_zoo)}, tmp_path / "server.log")
    with server as url, sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("heading", name=PAGES["Overview"]).wait_for(timeout=120_000)
        wait_until_idle(page, run_started=True)
        log.append(f"cold start (server start -> first page interactive): {time.perf_counter() - started:.2f} s")

        page.get_by_role("button", name="Measure every layer").click()
        page.get_by_role("button", name="Download redundancy profile (PNG)").wait_for(timeout=120_000)
        wait_until_idle(page)
        _check_and_shoot(page, "overview", shots)

        for label, title in PAGES.items():
            log.append(f"switch to {label} (first visit): {open_page(page, label, title):.2f} s")
            _check_and_shoot(page, label.lower().replace(" ", "_"), shots)
        for label, title in PAGES.items():
            log.append(f"switch to {label} (again, same model and images): {open_page(page, label, title):.2f} s")

        seconds = open_page(page, "Operator benchmark", "Operator benchmark (live)")
        log.append(f"switch to Operator benchmark: {seconds:.2f} s")
        page.get_by_role("button", name="Run the benchmark").click()
        page.get_by_role("button", name="Download benchmark (CSV)").wait_for(timeout=120_000)
        wait_until_idle(page)
        _check_and_shoot(page, "operator_benchmark", shots)

        for label, (title, op, policy) in OPERATOR_PAGES.items():
            open_page(page, label, title)
            choose(page, "Convert to operator", op)
            choose(page, "Layers to convert", policy)
            _check_and_shoot(page, f"{label.lower().replace(' ', '_')}_{op}_model", shots)
        choose(page, "Convert to operator", "(keep as trained)")

        open_page(page, "Attribution", "Attribution")
        page.get_by_role("button", name="Compute attributions").click()
        page.get_by_role("button", name="Download attribution comparison (PNG)").wait_for(timeout=120_000)
        wait_until_idle(page)
        _check_and_shoot(page, "attribution", shots)

        open_page(page, "Train", "Train a small model")
        for slider in page.get_by_role("slider").all():  # fewest images, one epoch
            slider.press("Home")
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text("Choose it in the sidebar").wait_for(timeout=120_000)
        wait_until_idle(page)
        _check_and_shoot(page, "train", shots)
        open_page(page, "Overview", PAGES["Overview"])

        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("Upload", exact=True).click()
        sidebar.locator('input[type="file"]').last.set_input_files(str(SAMPLE_UPLOAD))
        page.get_by_text(as_shown(SAMPLE_UPLOAD.name)).first.wait_for(timeout=60_000)
        wait_until_idle(page)
        _check_and_shoot(page, "overview_uploaded_image", shots)
        browser.close()

    SHOTS_COPY.mkdir(exist_ok=True)
    for shot in shots.iterdir():
        shutil.copy(shot, SHOTS_COPY / shot.name)
    (SHOTS_COPY / "timings.log").write_text("\n".join(log) + "\n")
    print("\n".join(log))
