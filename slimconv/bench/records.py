"""Writing a run: CSV and JSON named after the setup, and a markdown table for docs/."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from .runner import BenchRow
from .setup import BenchSetup

COLUMNS = (
    "comparison",
    "label",
    "form",
    "params",
    "training_only_params",
    "macs",
    "median_ms",
    "iqr_ms",
    "runs",
    "rounds",
    "gflops_per_s",
    "ratio",
    "ratio_low",
    "ratio_high",
    "noisy",
    "speedup",
    "mac_ratio",
    "ideal_share",
    "peak_memory_bytes",
    "verdict",
    "error",
)


def _flat(row: BenchRow) -> dict[str, object]:
    data = asdict(row)
    details = data.pop("details")
    return {key: data[key] for key in COLUMNS} | {f"detail_{k}": v for k, v in details.items()}


def write_records(
    rows: Sequence[BenchRow],
    setup: BenchSetup,
    out_dir: str | Path,
    kind: str,
    verdicts: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write ``<kind>-<setup tag>.csv`` and ``.json`` (setup, hardware, rows and target verdicts)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{kind}-{setup.tag()}"
    flat = [_flat(row) for row in rows]
    fieldnames = list(dict.fromkeys(key for row in flat for key in row))
    csv_path, json_path = out / f"{stem}.csv", out / f"{stem}.json"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(flat)
    payload = {"setup": setup.describe(), "rows": [_jsonable(row) for row in flat], "targets": list(verdicts)}
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    return csv_path, json_path


def _jsonable(row: dict[str, object]) -> dict[str, object]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def ratio_text(row: BenchRow) -> str:
    """``0.523 [0.511, 0.534]``, or ``NOISY ~0.52 [0.40, 0.71]``: a noisy ratio is never a plain number."""
    if math.isnan(row.ratio):
        return "–"
    interval = f"[{row.ratio_low:.3f}, {row.ratio_high:.3f}]"
    return f"NOISY ~{row.ratio:.2f} {interval}" if row.noisy else f"{row.ratio:.3f} {interval}"


HEADER = ["comparison", "candidate", "params", "MMACs", "median ms", "GFLOP/s", "x baseline [95%]", "MAC ratio",
          "of ideal", "peak MB"]


def format_table(rows: Sequence[BenchRow], *, markdown: bool = False) -> str:
    """Rows as a text (or markdown) table: params, MACs, median time, GFLOP/s, the ratio to the baseline
    with its 95% interval (marked NOISY where it is not to be trusted), the MAC ratio and the share of
    the MACs' ideal speed-up achieved."""
    body = []
    for r in rows:
        memory = "–" if r.peak_memory_bytes is None else f"{r.peak_memory_bytes / 2**20:.1f}"
        share = "–" if math.isnan(r.ideal_share) else f"{r.ideal_share:.0%}"
        cells = [r.comparison, r.label, f"{r.params:,}", _fmt(r.macs / 1e6, 1), _fmt(r.median_ms, 3),
                 _fmt(r.gflops_per_s, 1), ratio_text(r), _fmt(r.mac_ratio, 3), share, memory]
        if r.error:
            cells[4] = r.error
        body.append(cells)
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [max(len(str(c)) for c in column) for column in zip(HEADER, *body, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) for cells in body]
    return "\n".join(lines)


def verdict_lines(rows: Sequence[BenchRow]) -> list[str]:
    """One line per comparison: its name and the engine's verdict."""
    seen = dict.fromkeys((r.comparison, r.verdict) for r in rows if r.verdict)
    return [f"{name}: {verdict}" for name, verdict in seen]
