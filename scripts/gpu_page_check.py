"""The Operator benchmark page through AppTest on one device: a small layer, every operator, both forms.

    python scripts/gpu_page_check.py --device cuda --out OUT

Writes OUT/page-<device>.csv (the page's table) and exits non-zero when the page shows an exception or an
error box, or a candidate could not be measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamlit.testing.v1 import AppTest

REPOSITORY = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(REPOSITORY))
    import slimconv

    app = AppTest.from_file(str(REPOSITORY / "app.py"), default_timeout=300)
    app.run()
    app.switch_page("app_pages/benchmark.py").run()
    device = app.selectbox(key="bench_device")
    if args.device not in device.options:
        print(f"the page offers {device.options}, not {args.device}", file=sys.stderr)
        return 1
    device.set_value(args.device)
    app.text_input(key="bench_ops").set_value(" ".join(slimconv.list_ops()))
    app.slider(key="bench_budget").set_value(5)
    app.button[0].click().run()
    problems = [str(e.value) for e in app.exception] + [str(e.value) for e in app.error]
    if not app.dataframe:
        problems.append("no result table")
    else:
        table = app.dataframe[0].value
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / f"page-{args.device}.csv", index=False)
        problems += [f"{row.label}: {row.error}" for row in table.itertuples() if isinstance(row.error, str)]
        print(table[["label", "what", "ratio", "ratio_low", "ratio_high", "noisy", "median_ms"]].to_string())
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
