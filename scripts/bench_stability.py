"""Run-to-run stability of the benchmark CLI: the same `slimconv-bench layer` command three times in a row,
the second with a busy process spinning on one core, as on a user's laptop.

Passes when every candidate's ratio is within 10% of its median over the three runs, or the runs that
deviate say themselves that they are noisy. Prints the table and writes it (markdown) with ``--out``.

    python scripts/bench_stability.py --out docs/benchmarks/stability.md
    python scripts/bench_stability.py --quick      # small shape, short budget: checks the script only
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOLERANCE = 0.10
LAYER = ["layer", "--op", "spconv", "--op", "linearconv", "--op", "flgc:groups=8", "--in", "64", "--out-ch", "64"]
FULL = ["--size", "56", "--batch", "8"]
QUICK = ["--size", "8", "--batch", "1", "--budget", "2", "--min-rounds", "3", "--block-time", "0.005"]


def _spin(stop_at: float) -> None:
    while time.time() < stop_at:
        pass


def run_once(out: Path, extra: list[str], busy: bool) -> tuple[dict, float]:
    """One CLI run writing its records under ``out``; its record (setup and rows) and how long it took."""
    spinner = None
    if busy:  # one core taken for up to ten minutes, stopped as soon as the run ends
        spinner = multiprocessing.Process(target=_spin, args=(time.time() + 600,), daemon=True)
        spinner.start()
    started = time.perf_counter()
    try:
        command = [sys.executable, "-m", "slimconv.bench", *LAYER, *extra, "--out", str(out)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    finally:
        if spinner is not None:
            spinner.terminate()
            spinner.join()
    (record,) = out.glob("layer-*.json")
    return json.loads(record.read_text()), time.perf_counter() - started


def judge(runs: list[list[dict]]) -> tuple[list[str], bool]:
    """Markdown rows (candidate, each run's ratio with its interval and verdict, spread) and whether every
    deviation beyond the tolerance was flagged noisy by its own run."""
    lines, passed = [], True
    labels = [row["label"] for row in runs[0] if row["form"] != "dense"]
    for label in labels:
        rows = [next(row for row in run if row["label"] == label) for run in runs]
        median = statistics.median(row["ratio"] for row in rows)
        cells = []
        for row in rows:
            deviates = abs(row["ratio"] / median - 1) > TOLERANCE
            passed &= not deviates or row["noisy"]
            flag = "NOISY" if row["noisy"] else "stable"
            cells.append(f"{row['ratio']:.3f} [{row['ratio_low']:.3f}, {row['ratio_high']:.3f}] {flag}"
                         + (" (deviates)" if deviates else ""))
        spread = max(row["ratio"] for row in rows) / min(row["ratio"] for row in rows) - 1
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {spread:.1%} |")
    return lines, passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shape and budget: checks the script only")
    parser.add_argument("--out", type=Path, default=None, help="markdown file for the table")
    args = parser.parse_args()
    extra = QUICK if args.quick else FULL
    runs, notes = [], []
    with tempfile.TemporaryDirectory() as folder:
        for index, busy in enumerate((False, True, False)):
            record, seconds = run_once(Path(folder) / str(index), extra, busy)
            runs.append(record["rows"])
            notes.append(f"run {index + 1}{' (busy process on one core)' if busy else ''}: {seconds:.0f} s")
    lines, passed = judge(runs)
    machine = record["setup"]
    command = "slimconv-bench " + " ".join(LAYER + extra)
    text = "\n".join([
        f"# Benchmark stability: `{command}`, three runs in a row", "",
        "Ratio to `nn.Conv2d` (median of paired rounds) with its 95% interval and the run's own verdict; a run "
        f"deviates when its ratio is more than {TOLERANCE:.0%} from the median of the three.", "",
        "| candidate | run 1 | run 2 (busy core) | run 3 | spread |", "|---|---|---|---|---|", *lines, "",
        f"On {machine['device_name']}, {machine['threads_used']} threads, {machine['dtype']}, torch "
        f"{machine['torch']}; " + "; ".join(notes) + ".", "",
        f"Result: {'PASS' if passed else 'FAIL'}: every deviating run " + ("said it was noisy." if passed else
                                                                        "did NOT say it was noisy."), "",
    ])
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
