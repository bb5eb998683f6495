"""docs/bad-inputs.md is what the loaders do now: regenerated here and compared."""

from pathlib import Path

import pytest

from tests.bad_inputs.doc import DOC_PATH, render

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bad_inputs_doc_is_up_to_date() -> None:
    committed = (REPO / DOC_PATH).read_text(encoding="utf-8")
    assert render() == committed, f"{DOC_PATH} is out of date: run python scripts/bad_inputs_doc.py"
