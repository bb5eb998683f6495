"""Four users at once on one server, each in its own browser context with its own model and images, visiting
Feature maps, Filters and an operator page. No session shows an exception or an error, none sees another's
model or images, and the shared cached models keep their weights and carry no hook: the sidebar's
Diagnostics, before and after, against fingerprints of the checkpoint files computed here.

The sessions act in lockstep: each step is started in all four browsers before any is awaited, so the
server runs the four sessions' scripts at the same time (one Chromium, light enough for a 2-core machine).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import slimconv
from lab import PRETRAINED_DIR_VARIABLE
from lab.diagnostics import weights_fingerprint
from tests.app.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REPOSITORY,
    RUN_TIMEOUT_MS,
    as_shown,
    click_page,
    error_texts,
    exception_texts,
    pick,
    playwright_or_skip,
    streamlit_server,
    visible,
    wait_for_page,
    wait_until_idle,
)
from tests.app.checkpoints import FOUR_MODEL_ZOO, write_test_zoo

sync_api = playwright_or_skip()

pytestmark = pytest.mark.browser

SAMPLES = REPOSITORY / "slimconv/models/samples/fashion-mnist"
SHOTS_COPY = Path("/tmp/app_shots")
OVERVIEW = ("Overview", "Redundancy in convolutional networks")


@dataclass(frozen=True)
class Session:
    checkpoint: str
    images: tuple[str, ...]
    operator_page: tuple[str, str]  # navigation label, page title

    @property
    def visits(self) -> tuple[tuple[str, str], ...]:
        """(navigation label, page title) of each page the session visits, in order."""
        return ("Feature maps", "Feature maps"), ("Filters", "Filters"), self.operator_page


SESSIONS = (
    Session("resnet20-fashion", ("bag_00018.png", "coat_00006.png"), ("SPConv split", "SPConv split")),
    Session("resnet20-linearconv-fashion", ("sandal_00008.png", "shirt_00004.png"), ("SPConv split", "SPConv split")),
    Session("resnet20-hetconv-fashion", ("dress_00013.png", "trouser_00002.png"), ("FLGC groups", "FLGC groups")),
    Session("resnet20-pedconv-fashion", ("pullover_00001.png", "sneaker_00012.png"),
            ("Dynamic convolution", "Dynamic convolution (PEDConv)")),
)


def _model_caption(page):
    return page.get_by_test_id("stSidebar").get_by_test_id("stCaptionContainer").filter(has_text="· input")


def _diagnostics(page) -> tuple[str, int]:
    """The fingerprint and hook count of the sidebar's Diagnostics (read without opening the expander)."""
    expander = page.get_by_test_id("stSidebar").get_by_test_id("stExpander").filter(has_text="Diagnostics")
    text = expander.get_by_test_id("stExpanderDetails").text_content()
    return (re.search(r"Fingerprint: ([0-9a-f]{12})", text).group(1),
            int(re.search(r"Hooks attached: (\d+)", text).group(1)))


def _assert_clean(page, session: Session, where: str) -> None:
    problems = exception_texts(page) + error_texts(page)
    assert not problems, f"{session.checkpoint} on {where}: {problems}"


def _check_page(session: Session, page, label: str, title: str) -> None:
    wait_for_page(page, title)
    _assert_clean(page, session, label)


def _assert_own_model_and_images(page, session: Session, fingerprint: str, when: str) -> None:
    """The sidebar names this session's checkpoint with its file's fingerprint and no hook, and the Overview
    shows this session's images only."""
    caption = _model_caption(page).inner_text()
    assert caption.startswith(session.checkpoint + " ·"), (when, caption)
    assert _diagnostics(page) == (fingerprint, 0), f"{session.checkpoint} {when}"
    shown = visible(page.get_by_test_id("stMain").inner_text())
    others = [name for other in SESSIONS if other is not session for name in other.images]
    assert all(name in shown for name in session.images), (session.checkpoint, when, shown)
    assert not [name for name in others if name in shown], (session.checkpoint, when, shown)


class Lockstep:
    """The sessions' pages acting in lockstep, with the time at which each step ended."""

    def __init__(self, pages: dict[Session, object]) -> None:
        self.pages = pages
        self.log: list[str] = []
        self._started = time.perf_counter()

    def step(self, name: str, start: Callable, finish: Callable) -> None:
        """``start(session, page)`` in every browser, then ``finish(session, page)`` in every browser."""
        for session, page in self.pages.items():
            start(session, page)
        for session, page in self.pages.items():
            finish(session, page)
        self.log.append(f"{time.perf_counter() - self._started:6.1f} s  {name}")


def _choose_model_and_images(session: Session, page) -> None:
    if session.checkpoint != next(iter(FOUR_MODEL_ZOO)):
        pick(page, "Checkpoint", session.checkpoint)
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Upload", exact=True).click()
    sidebar.locator('input[type="file"]').last.set_input_files([str(SAMPLES / name) for name in session.images])


def _wait_for_model_and_images(session: Session, page) -> None:
    _model_caption(page).filter(has_text=session.checkpoint).wait_for(timeout=RUN_TIMEOUT_MS)
    page.get_by_test_id("stMain").get_by_text(as_shown(session.images[-1])).first.wait_for(timeout=RUN_TIMEOUT_MS)
    wait_until_idle(page, run_started=True)


def test_four_sessions_at_once_keep_their_own_state_and_the_models_untouched(tmp_path):
    zoo = write_test_zoo(tmp_path / "zoo", FOUR_MODEL_ZOO)
    assert [session.checkpoint for session in SESSIONS] == list(FOUR_MODEL_ZOO)
    fingerprints = {name: weights_fingerprint(slimconv.load_checkpoint(zoo / f"{name}.pt").model)
                    for name in FOUR_MODEL_ZOO}
    assert len(set(fingerprints.values())) == len(SESSIONS)
    server = streamlit_server({PRETRAINED_DIR_VARIABLE: str(zoo)}, tmp_path / "server.log")
    with server as url, sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        sessions = Lockstep({session: browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                             for session in SESSIONS})
        try:
            sessions.step("first page", lambda session, page: page.goto(url),
                          lambda session, page: wait_for_page(page, OVERVIEW[1]))
            sessions.step("own model and images", _choose_model_and_images, _wait_for_model_and_images)
            for session, page in sessions.pages.items():
                _assert_own_model_and_images(page, session, fingerprints[session.checkpoint], "before the pages")
            for index in range(len(SESSIONS[0].visits)):
                sessions.step(f"page {index + 1}",
                              lambda session, page, i=index: click_page(page, session.visits[i][0]),
                              lambda session, page, i=index: _check_page(session, page, *session.visits[i]))
            sessions.step("Overview again", lambda session, page: click_page(page, OVERVIEW[0]),
                          lambda session, page: wait_for_page(page, OVERVIEW[1]))
            for session, page in sessions.pages.items():
                _assert_clean(page, session, "Overview, after the others' pages")
                _assert_own_model_and_images(page, session, fingerprints[session.checkpoint], "after the others' pages")
            _shoot_diagnostics(sessions.pages[SESSIONS[0]], tmp_path / "sidebar_diagnostics.png")
        finally:
            print("\n".join(sessions.log))
            browser.close()


def _shoot_diagnostics(page, path: Path) -> None:
    """The sidebar with the Diagnostics expander open, also copied to /tmp/app_shots."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Diagnostics", exact=True).click()
    page.set_viewport_size({"width": 1400, "height": 1800})  # the sidebar scrolls inside the window: all of it
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)  # the expander's animation
    sidebar.screenshot(path=str(path))
    SHOTS_COPY.mkdir(exist_ok=True)
    shutil.copy(path, SHOTS_COPY / path.name)
