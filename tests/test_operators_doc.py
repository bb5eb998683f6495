"""docs/operators.md, the operator reference the code cites: every registered operator has its section,
and the counts it states are what the library counts."""

from pathlib import Path

import pytest

import slimconv

DOC = (Path(__file__).resolve().parents[1] / "docs" / "operators.md").read_text(encoding="utf-8")

# (operator, options, in, out, kernel) -> trainable parameters the doc states, as it writes them.
STATED_COUNTS = [
    ("spconv", {"alpha": 0.5}, 64, 64, 3, "13,632"),
    ("spconv", {"alpha": 0.25}, 64, 64, 3, "9,024"),
    ("linearconv", {"bias": True}, 256, 256, 3, "311,552"),
    ("linearconv", {"bias": True, "variant": "lowrank", "rank": 10}, 256, 256, 3, "297,728"),
    ("pedconv", {}, 64, 64, 3, "37,809"),
    ("ghost", {}, 64, 64, 3, "18,720"),
    ("hetconv", {"part": 4}, 64, 64, 3, "12,288"),
    ("octconv", {"alpha": 0.5}, 64, 64, 3, "36,864"),
]


def test_every_registered_operator_has_a_section():
    for name in slimconv.list_ops():
        assert f"— `{name}`" in DOC, f"docs/operators.md has no section for {name!r}"


@pytest.mark.parametrize(("op", "options", "c", "n", "k", "stated"), STATED_COUNTS)
def test_stated_parameter_counts_are_the_librarys(op, options, c, n, k, stated):
    assert stated in DOC
    assert f"{slimconv.count_params(slimconv.create_conv(op, c, n, k, **options)):,}" == stated


def test_stated_training_only_counts_are_the_librarys():
    pedconv = slimconv.create_conv("pedconv", 64, 64, 3, infomax=True)
    flgc = slimconv.create_conv("flgc", 64, 64, 1, groups=8)
    assert slimconv.count_training_only_params(pedconv) == 872 and "**872**" in DOC
    assert slimconv.count_training_only_params(flgc) == 1024 and "1,024 for 64 -> 64, G = 8" in DOC


def test_no_code_cites_a_spec_outside_the_repo():
    root = Path(__file__).resolve().parents[1]
    folders = ("slimconv", "analysis", "lab", "app_pages", "tests")
    sources = [p for folder in folders for p in (root / folder).rglob("*.py")]
    stale = [str(p.relative_to(root)) for p in sources if "OPERATORS" + ".md" in p.read_text("utf-8")]
    assert not stale, f"cite docs/operators.md instead: {stale}"
