"""Hostile uploads in Chromium: each is refused with a clear message (no traceback), its name shown as written,
and meanwhile a second session's pages keep loading and the health endpoint answers within a second."""

from __future__ import annotations

import re
import threading
import time
import urllib.request

import pytest

from lab import PRETRAINED_DIR_VARIABLE
from tests.app.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RUN_TIMEOUT_MS,
    as_shown,
    click_page,
    exception_texts,
    playwright_or_skip,
    streamlit_server,
    visible,
    wait_for_page,
)
from tests.app.checkpoints import write_test_zoo
from tests.bad_inputs.hostile_checkpoints import HOSTILE_CHECKPOINT_CASES

sync_api = playwright_or_skip()

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CASES = {case.file_name: case for case in HOSTILE_CHECKPOINT_CASES}
#: Uploaded one after another in the first session (nested.pt keeps the server busy for seconds).
HOSTILE = ("nested.pt", "laughs.pt", "bomb.pt", "vit_h_14.pt", "weights-path.pt", "input-2500.pt", "nan.pt")
TRICKY_NAME = "**bold** [link](http://example.com) $x^2$.pt"
OVERVIEW = "Redundancy in convolutional networks"


class HealthWatch:
    """Polls ``/_stcore/health`` every 0.1 s on its own thread and keeps the slowest answer's seconds."""

    def __init__(self, url: str) -> None:
        self.url, self.slowest, self.failures = url, 0.0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5) as response:
                    response.read()
            except OSError as error:
                self.failures.append(str(error))
            self.slowest = max(self.slowest, time.perf_counter() - started)
            self._stop.wait(0.1)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _upload(page, name: str, data: bytes) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.locator('input[type="file"]').first.set_input_files(
        {"name": name, "mimeType": "application/octet-stream", "buffer": data})


def _sidebar_error(page, text: str) -> str:
    box = page.get_by_test_id("stSidebar").get_by_test_id("stAlertContentError").filter(has_text=as_shown(text))
    box.first.wait_for(timeout=RUN_TIMEOUT_MS)
    return visible(box.first.inner_text())


def test_hostile_uploads_are_refused_while_another_session_stays_responsive(tmp_path) -> None:
    zoo = write_test_zoo(tmp_path / "zoo")
    payloads = {name: CASES[name].build() for name in HOSTILE}
    tricky = CASES["$x^2$ [a](b) **c**.pt"].build()
    server = streamlit_server({PRETRAINED_DIR_VARIABLE: str(zoo)}, tmp_path / "server.log")
    with server as url, HealthWatch(url) as health, sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            attacker = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            for page in (attacker, other):
                page.goto(url)
                wait_for_page(page, OVERVIEW)
            attacker.get_by_test_id("stSidebar").get_by_text("Checkpoint file", exact=True).click()
            attacker.get_by_test_id("stSidebar").locator('input[type="file"]').first.wait_for(
                state="attached", timeout=RUN_TIMEOUT_MS)
            pages_seconds = []
            for name in HOSTILE:
                _upload(attacker, name, payloads[name])
                started = time.perf_counter()  # the other session works while the upload is processed
                click_page(other, "Filters" if len(pages_seconds) % 2 == 0 else "Overview")
                wait_for_page(other, "Filters" if len(pages_seconds) % 2 == 0 else OVERVIEW)
                pages_seconds.append(time.perf_counter() - started)
                message = _sidebar_error(attacker, name)
                assert message.startswith("Could not load the checkpoint:"), message
                assert re.search(CASES[name].expect, message), (name, message)
                assert not exception_texts(attacker) and not exception_texts(other), name
            _upload(attacker, TRICKY_NAME, tricky)
            caption = attacker.get_by_test_id("stSidebar").get_by_test_id("stCaptionContainer").filter(
                has_text="· input")
            caption.first.wait_for(timeout=RUN_TIMEOUT_MS)
            shown = visible(caption.first.inner_text())
            assert shown.startswith(TRICKY_NAME + " ·"), shown
            links = attacker.get_by_test_id("stSidebar").locator("a[href='http://example.com']")
            assert links.count() == 0, links.first.evaluate("a => a.parentElement.parentElement.outerHTML")
        finally:
            browser.close()
    assert not health.failures, health.failures
    assert health.slowest < 1.0, f"the health endpoint took {health.slowest:.2f} s"
    assert max(pages_seconds) < 30, pages_seconds
    print(f"health slowest {health.slowest:.3f} s; other session's pages {[round(s, 1) for s in pages_seconds]} s")
