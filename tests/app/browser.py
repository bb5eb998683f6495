"""Driving the app in Debian's Chromium through Playwright: start, wait, switch pages, screenshot."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
REPOSITORY = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT_S = 60
RUN_TIMEOUT_MS = 120_000
_CONTENT_HEIGHT_JS = """Math.max(...["stMain", "stMainBlockContainer", "stAppViewContainer"].map(
    id => document.querySelector(`[data-testid="${id}"]`)?.scrollHeight || 0))"""


def playwright_or_skip():
    """``playwright.sync_api``, or skip the calling test module (at import) saying what is missing."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (CI installs Debian's chromium)", allow_module_level=True)
    return sync_api


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_health(url: str, server: subprocess.Popen, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url}/_stcore/health did not answer within {timeout_s} s")


@contextmanager
def streamlit_server(environment: dict[str, str], log: Path) -> Iterator[str]:
    """``streamlit run app.py`` headless on a free port, its output written to ``log`` (a pipe nobody reads
    would stall the server once full); yields its URL once healthy."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1"]
    with log.open("w") as output:
        server = subprocess.Popen(command, cwd=REPOSITORY, env=os.environ | environment, stdout=output,
                                  stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_health(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def as_shown(name: str) -> re.Pattern:
    """A pattern for ``name`` as the page shows a name from a file: ``lab.literal`` puts invisible word joiners
    (U+2060) before ``.`` and ``@`` and after ``:`` against automatic links, so an exact string would not match."""
    joined = {".": "\u2060?\\.", ":": ":\u2060?", "@": "\u2060?@"}
    return re.compile("".join(joined.get(character, re.escape(character)) for character in name))


def visible(text: str) -> str:
    """``text`` read from the page without the invisible word joiners of ``as_shown``."""
    return text.replace("\u2060", "")


def wait_until_idle(page, *, run_started: bool = False) -> None:
    """Wait until the script run that the last action started has finished: ``stApp``'s
    ``data-test-script-state`` goes ``running`` -> ``notRunning``. With ``run_started`` (the caller saw
    the run's output already) only the end is awaited; otherwise a run too quick to be seen is fine."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if not run_started:
        try:
            page.wait_for_selector('[data-testid="stApp"][data-test-script-state="running"]', timeout=1500)
        except PlaywrightTimeout:
            pass
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=RUN_TIMEOUT_MS)


def exception_texts(page) -> list[str]:
    return [visible(box.inner_text()) for box in page.query_selector_all('[data-testid="stException"]')]


def error_texts(page) -> list[str]:
    """The ``st.error`` boxes on the page."""
    return [visible(box.inner_text()) for box in page.query_selector_all('[data-testid="stAlertContentError"]')]


def click_page(page, label: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(label, exact=True).click()


def wait_for_page(page, title: str) -> None:
    """Wait for the page titled ``title`` and the end of its run."""
    page.get_by_role("heading", name=title).wait_for(timeout=RUN_TIMEOUT_MS)
    wait_until_idle(page, run_started=True)


def open_page(page, label: str, title: str) -> float:
    """Click ``label`` in the navigation, wait for the page's ``title`` and the end of its run; the seconds
    that took."""
    started = time.perf_counter()
    click_page(page, label)
    wait_for_page(page, title)
    return time.perf_counter() - started


def screenshot_whole_page(page, path: Path) -> None:
    """Screenshot of the whole app: Streamlit scrolls inside its main block, so the viewport is made as
    tall as that block for the shot, then restored."""
    viewport = page.viewport_size
    height = page.evaluate(_CONTENT_HEIGHT_JS)
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], int(height) + 40)})
    page.wait_for_timeout(500)  # let the images lay out
    page.screenshot(path=str(path))
    page.set_viewport_size(viewport)


def pick(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (the rerun it starts is not awaited)."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).first
    box.scroll_into_view_if_needed()  # at the sidebar's bottom edge the list would open out of sight, unclickable
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` and wait for the rerun."""
    pick(page, label, option)
    wait_until_idle(page)
