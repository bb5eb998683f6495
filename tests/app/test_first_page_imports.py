"""The first page imports nothing it does not use (issue 14's cold start): captum, scikit-learn and torchvision,
each about a second on 2 cores, load with the pages that need them. Run in a fresh interpreter: this one has them
already."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest

from tests.app.apptest_helpers import APP

HEAVY = ("captum", "sklearn", "scipy.stats", "torchvision")


def _modules_after(script: str) -> dict[str, bool]:
    code = textwrap.dedent(f"""
        import sys
        {script}
        print({{name: name in sys.modules for name in {HEAVY!r}}})
    """)
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    return ast.literal_eval(output.stdout.strip().splitlines()[-1])


def test_importing_the_lab_loads_no_attribution_clustering_or_torchvision_library():
    assert _modules_after("import lab, analysis, analysis.figures") == dict.fromkeys(HEAVY, False)


@pytest.mark.slow
def test_the_overview_runs_without_attribution_clustering_or_torchvision_libraries():
    script = (f"from streamlit.testing.v1 import AppTest; "
              f"assert not AppTest.from_file({APP!r}, default_timeout=120).run().exception")
    assert _modules_after(script) == dict.fromkeys(HEAVY, False)


def test_the_lazy_names_resolve_to_their_modules():
    import analysis
    import analysis.figures
    from analysis.attribution import Saliency
    from analysis.figures.attribution_figures import importance_redundancy_figure

    assert analysis.Saliency is Saliency
    assert analysis.figures.importance_redundancy_figure is importance_redundancy_figure
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        analysis.not_a_name  # noqa: B018
