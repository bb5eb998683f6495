"""scripts/bench_stability.py judges three runs: a ratio more than 10% off the median passes only when its
own run said it was noisy."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_stability.py"
spec = importlib.util.spec_from_file_location("bench_stability", SCRIPT)
stability = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stability)


def _run(ratio: float, noisy: bool) -> list[dict]:
    return [
        {"label": "conv2d", "form": "dense", "ratio": 1.0, "ratio_low": 1.0, "ratio_high": 1.0, "noisy": noisy},
        {"label": "spconv deploy", "form": "deploy", "ratio": ratio, "ratio_low": ratio * 0.97,
         "ratio_high": ratio * 1.03, "noisy": noisy},
    ]


def test_close_runs_pass_and_report_their_spread():
    lines, passed = stability.judge([_run(0.80, False), _run(0.84, False), _run(0.82, False)])
    assert passed and len(lines) == 1 and "5.0%" in lines[0] and "deviates" not in lines[0]


def test_a_deviating_run_passes_only_when_it_said_it_was_noisy():
    lines, passed = stability.judge([_run(0.80, False), _run(1.20, True), _run(0.82, False)])
    assert passed and "NOISY (deviates)" in lines[0]
    _, passed = stability.judge([_run(0.80, False), _run(1.20, False), _run(0.82, False)])
    assert not passed
