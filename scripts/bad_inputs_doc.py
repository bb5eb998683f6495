"""Write docs/bad-inputs.md: what the image and checkpoint loaders do with every bad-input case.

    python scripts/bad_inputs_doc.py                 # into docs/bad-inputs.md
    python scripts/bad_inputs_doc.py --out /tmp/x.md

The cases live in ``tests/bad_inputs/`` (the tests run them too); the output is deterministic, so
``tests/test_bad_inputs_doc.py`` can compare it with the committed file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from tests.bad_inputs.doc import DOC_PATH, render  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / DOC_PATH, help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)
    args.out.write_text(render(), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
