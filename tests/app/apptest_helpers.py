"""Running the app under ``streamlit.testing.v1.AppTest`` and reading what it shows."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT_S = 120


def run_app(page: str | None = None) -> AppTest:
    """The app after its first run, switched to ``page`` (e.g. ``"app_pages/filters.py"``) if given."""
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    if page is not None:
        app.switch_page(page).run()
    assert_clean(app)
    return app


def assert_clean(app: AppTest) -> None:
    """No exception and no error box."""
    assert not app.exception, [e.message for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def image_count(app: AppTest) -> int:
    return len(app.get("image"))


def download_names(app: AppTest) -> list[str]:
    return [button.proto.label for button in app.get("download_button")]


def shown(text: str) -> str:
    """``text`` as the browser shows it: names from files are markdown-escaped, with invisible word joiners
    against automatic links (``lab.literal``)."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u2060", "")
