"""The README stays true: exactly two set-up commands that also install the package, CI runs the test
command as written, and the library quickstart runs from a directory outside the repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import slimconv

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    return re.search(rf"^## {title}\n(.*?)(?=^## )", README, re.S | re.M).group(1)


def _setup_commands() -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", _section("Set up"), re.S)]


def _quickstart() -> str:
    return re.search(r"```python\n(.*?)```", _section("Library quickstart"), re.S).group(1)


def test_two_setup_commands_install_the_package_and_start_the_app_or_the_tests() -> None:
    app, tests = _setup_commands()
    assert app == "pip install -r requirements.txt -e . && streamlit run app.py"
    assert tests == "pip install -r requirements-dev.txt -e . && python -m pytest"
    assert (ROOT / "app.py").is_file() and (ROOT / "requirements.txt").is_file()


def test_ci_runs_the_readme_test_command_exactly() -> None:
    _, tests = _setup_commands()
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in lines


def test_the_fast_lane_the_readme_names_is_the_one_the_marker_describes() -> None:
    assert 'python -m pytest -m "not slow and not browser"' in README
    assert "not slow and not browser" in (ROOT / "pyproject.toml").read_text()


def test_quickstart_lists_the_operators_slimconv_has() -> None:
    listed = re.search(r"slimconv\.list_ops\(\)\s+# (\[.*?\])", _quickstart()).group(1)
    assert eval(listed) == slimconv.list_ops()  # a literal list written in the README


@pytest.mark.slow
def test_quickstart_runs_from_another_directory(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(_quickstart())
    # The package found from the install (here: the checkout on PYTHONPATH, as `pip install -e .` puts it).
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LatencyResult(" in done.stdout and "SPConv2dDeploy" in done.stdout
