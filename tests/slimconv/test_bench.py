"""The benchmark suite end to end on tiny configurations: rows, ratios, records, errors."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from slimconv import count_macs
from slimconv.bench import (
    BenchSetup,
    Candidate,
    Comparison,
    Target,
    format_table,
    layer_comparison,
    model_comparison,
    run_comparison,
    run_targets,
)
from slimconv.bench.__main__ import main
from slimconv.bench.free_layer import FreeLayer
from slimconv.bench.runner import BenchRow
from slimconv.bench.targets import TargetResult, cpu_targets, gpu_targets, undecided_reason
from slimconv.op_spec import parse_op

FAST = BenchSetup(budget_s=0.3, min_rounds=6, block_time_s=0.001)


def test_parse_op_reads_typed_options():
    assert parse_op("spconv") == ("spconv", {})
    assert parse_op("spconv:alpha=0.25,gwc_groups=2") == ("spconv", {"alpha": 0.25, "gwc_groups": 2})
    assert parse_op("linearconv:variant=lowrank,rank=4") == ("linearconv", {"variant": "lowrank", "rank": 4})


def test_layer_comparison_rows_and_ratios():
    comparison = layer_comparison([("linearconv", {})], in_channels=8, out_channels=8, size=6, batch_size=2)
    rows = run_comparison(comparison, FAST)
    assert [r.label for r in rows] == ["conv2d", "linearconv train", "linearconv deploy"]
    assert rows[0].ratio == pytest.approx(1.0) and rows[0].macs == 2 * 8 * 8 * 9 * 36
    assert rows[2].macs == rows[0].macs  # the deploy form is a plain conv
    for row in rows:
        assert row.error is None and row.median_ms > 0 and row.runs >= 6 and row.rounds >= 6 and row.gflops_per_s > 0
        assert row.speedup == pytest.approx(1 / row.ratio)
        assert row.ratio_low <= row.ratio <= row.ratio_high and isinstance(row.noisy, bool)
        assert row.mac_ratio == pytest.approx(row.macs / rows[0].macs)
        assert row.ideal_share == pytest.approx(row.mac_ratio / row.ratio)
        assert row.verdict.startswith(("stable", "NOISY")) and row.verdict == rows[0].verdict
        assert row.peak_memory_bytes is not None and row.peak_memory_bytes >= 0
    assert (rows[0].ratio_low, rows[0].ratio_high) == (1.0, 1.0)


def _row(label: str, ratio: float, low: float, high: float, noisy: bool) -> BenchRow:
    return BenchRow("c", label, "deploy", 10, 0, 500, median_ms=2.0, ratio=ratio, ratio_low=low, ratio_high=high,
                    noisy=noisy, mac_ratio=0.5, ideal_share=0.5 / ratio)


def test_a_noisy_ratio_is_never_shown_as_a_plain_number():
    table = format_table([_row("steady", 0.6, 0.59, 0.61, False), _row("shaky", 0.8, 0.5, 1.4, True)])
    steady, shaky = table.splitlines()[1:]
    assert "0.600 [0.590, 0.610]" in steady and "NOISY" not in steady and "83%" in steady
    assert "NOISY ~0.80 [0.500, 1.400]" in shaky and " 0.800 " not in shaky


def test_model_comparison_on_a_small_zoo_model():
    comparison = model_comparison("resnet20", [("spconv", {"alpha": 0.5})], size=16, batch_size=1)
    rows = run_comparison(comparison, FAST)
    assert [r.form for r in rows] == ["dense", "train", "deploy"]
    assert rows[1].macs < rows[0].macs and rows[2].macs <= rows[1].macs


def test_free_bound_makes_the_replaced_layers_free():
    comparison = model_comparison("resnet20", [("spconv", {})], size=16, forms=("deploy",), free_bound=True)
    bound = comparison.candidates[-1]
    assert bound.form == "bound" and bound.label == "resnet20 dense, spconv's layers free"
    model = bound.build()
    free = [m for m in model.modules() if isinstance(m, FreeLayer)]
    assert len(free) == 18  # the 18 3x3 convs of the paper's placement
    with torch.no_grad():
        out = free[0](torch.randn(2, 16, 9, 9))
    assert out.shape == (2, 16, 9, 9) and not out.any()
    assert count_macs(model, (3, 16, 16)) < count_macs(comparison.candidates[0].build(), (3, 16, 16)) / 5
    target = Target(comparison, "resnet20 spconv() deploy", "resnet20 dense", 100.0, bound=bound.label)
    _, (result,) = run_targets([target], FAST)
    # (no speed assertion: timings of a unit test prove nothing; the value is reported)
    assert math.isfinite(result.bound_value) and result.bound_value > 0
    assert f"replaced layers free {result.bound_value:.3f}" in str(result)


def test_cpu_and_gpu_targets_name_rows_their_comparisons_have():
    for target in cpu_targets() + gpu_targets():
        labels = {candidate.label for candidate in target.comparison.candidates}
        assert {target.candidate, target.baseline} <= labels, target
        assert target.bound is None or target.bound in labels, target


def test_progress_is_reported_to_the_end():
    comparison = layer_comparison([("ghost", {})], in_channels=8, out_channels=8, size=4, forms=("deploy",))
    seen = []
    run_comparison(comparison, FAST, progress=lambda fraction, text: seen.append((fraction, text)))
    fractions = [fraction for fraction, _ in seen]
    assert fractions[-1] == 1.0 and fractions == sorted(fractions) and "building conv2d" in seen[0][1]
    assert any("s left" in text for _, text in seen) and "rounds in" in seen[-1][1]


class _RaisesOutOfMemory(nn.Module):
    def forward(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")


def test_out_of_memory_is_reported_not_raised():
    candidates = (
        Candidate("conv2d", lambda: nn.Conv2d(4, 4, 3, padding=1), "dense"),
        Candidate("huge", _RaisesOutOfMemory, "train"),
    )
    rows = run_comparison(Comparison("oom", (1, 4, 5, 5), candidates), FAST)
    assert rows[0].error is None and rows[0].median_ms > 0
    assert rows[1].error.startswith("out of memory") and math.isnan(rows[1].median_ms)
    assert "out of memory" in format_table(rows)


def test_training_mode_times_forward_and_backward():
    comparison = layer_comparison([("pedconv", {})], in_channels=8, out_channels=8, size=6, forms=("train",))
    training = run_comparison(comparison, BenchSetup(budget_s=0.3, block_time_s=0.001, mode="training"))
    output_bytes = 1 * 8 * 6 * 6 * 4
    assert training[0].macs == 8 * 8 * 9 * 36 and training[1].macs > training[0].macs  # + the attention
    for row in training:
        # a step holds the output and its gradient at once
        assert row.error is None and row.peak_memory_bytes >= 2 * output_bytes and row.ratio_low <= row.ratio


def test_targets_compare_within_one_run():
    comparison = layer_comparison([("linearconv", {})], in_channels=8, out_channels=8, size=6, forms=("deploy",))
    targets = [
        Target(comparison, "linearconv deploy", "conv2d", 1000.0),
        Target(comparison, "linearconv deploy", "conv2d", 0.5, metric="memory"),
    ]
    rows, results = run_targets(targets, FAST)
    assert len(rows) == 2  # one comparison, measured once for both targets
    latency, memory = results
    assert latency.value == pytest.approx(rows[1].ratio) and latency.low <= latency.value <= latency.high
    assert latency.met == (not latency.noisy) and (("met" if latency.met else "UNDECIDED") in str(latency))
    # the deploy form is a plain conv of the same shape: the same peak memory, so 1.0, twice the limit
    assert memory.value == pytest.approx(rows[1].peak_memory_bytes / rows[0].peak_memory_bytes) == 1.0
    assert not memory.met and "MISSED by 100.0%" in str(memory)


def test_a_noisy_latency_leaves_its_target_undecided():
    comparison = layer_comparison([("linearconv", {})], in_channels=8, out_channels=8, size=6, forms=("deploy",))
    target = Target(comparison, "linearconv deploy", "conv2d", 1.05)
    noisy = TargetResult(target, 0.9, 0.5, 1.6, noisy=True, verdict="NOISY (95% intervals within ±40%)")
    assert not noisy.met and "UNDECIDED" in str(noisy) and "±40%" in str(noisy)
    quiet = TargetResult(target, 0.9, 0.88, 0.92)
    assert quiet.met and str(quiet).endswith("= 0.900 [0.880, 0.920] (target <= 1.05) met")
    assert "MISSED by 4.8%" in str(TargetResult(target, 1.1, 1.09, 1.11))


def test_a_wide_ratio_interval_decides_its_target_only_when_it_leaves_out_the_limit():
    class Row:
        noisy, verdict = True, "NOISY (95% intervals within ±12%)"

    # a stable comparison: a wide interval wholly under (or over) the limit decides the target
    assert undecided_reason(1.0, 0.899, 0.999, 0.052, 0.05, noisy_rows=[]) == ""
    assert undecided_reason(1.0, 1.01, 1.12, 0.052, 0.05, noisy_rows=[]) == ""
    # ... one that contains the limit does not, and says so (not "stable")
    reason = undecided_reason(1.0, 0.95, 1.06, 0.055, 0.05, noisy_rows=[])
    assert "±5.5%" in reason and "contains the limit 1.0" in reason and "stable" not in reason
    # a narrow interval across the limit is a decision: the median says which side
    assert undecided_reason(1.0, 0.98, 1.02, 0.02, 0.05, noisy_rows=[]) == ""
    # a noisy comparison decides nothing, however narrow the ratio's interval
    assert undecided_reason(1.0, 0.5, 0.51, 0.01, 0.05, noisy_rows=[Row()]) == Row.verdict


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dtype="float8"), "dtype"),
        (dict(mode="serving"), "mode"),
        (dict(min_rounds=0), "min_rounds"),
        (dict(budget_s=0), "budget_s"),
        (dict(dtype="float16"), "float16"),
    ],
)
def test_bad_setup_is_a_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BenchSetup(**kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message; this machine has a GPU")
def test_cuda_without_gpu_says_so():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        BenchSetup(device="cuda")


def test_command_writes_well_formed_records(tmp_path, capsys):
    code = main(
        [
            "layer",
            "--op",
            "spconv:alpha=0.5",
            "--in",
            "8",
            "--out-ch",
            "8",
            "--size",
            "6",
            "--batch",
            "1",
            "2",
            "--budget",
            "0.3",
            "--block-time",
            "0.001",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "spconv(alpha=0.5) deploy" in printed and "float32" in printed
    csv_path = next(tmp_path.glob("layer-cpu-float32-nchw-inference-torch*.csv"))
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    fields = {"median_ms", "macs", "params", "ratio", "ratio_low", "ratio_high", "noisy", "mac_ratio", "ideal_share"}
    assert len(rows) == 6 and fields <= rows[0].keys() and rows[1]["noisy"] in ("True", "False")
    record = json.loads(csv_path.with_suffix(".json").read_text())
    assert record["setup"]["device"] == "cpu" and record["setup"]["device_name"]
    assert len(record["rows"]) == 6 and record["rows"][0]["ratio"] == 1.0
    for row in record["rows"]:
        assert isinstance(row["noisy"], bool) and row["ratio_low"] <= row["ratio"] <= row["ratio_high"]
        assert row["ideal_share"] == pytest.approx(row["mac_ratio"] / row["ratio"])
    assert "Verdicts:" in printed and ("stable" in printed or "NOISY" in printed)


def test_command_rejects_bad_input(capsys):
    assert main(["layer", "--op", "nosuchop", "--size", "4", "--budget", "1"]) == 2
    assert "unknown operator" in capsys.readouterr().err


def test_summary_is_generated_from_the_records(tmp_path):
    from slimconv.bench.summary import main as summary_main

    assert main(["layer", "--op", "ghost", "--in", "8", "--out-ch", "8", "--size", "4", "--budget", "0.3",
                 "--block-time", "0.001", "--out", str(tmp_path)]) == 0
    assert summary_main([str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "| 8->8 k3 s1 4x4 b1 | conv2d |" in text
    assert "ghost deploy" in text and "threads" in text and "float32" in text and "x baseline [95%]" in text
    assert "Verdicts:" in text and "- 8->8 k3 s1 4x4 b1: " in text
    assert summary_main([str(tmp_path / "missing")]) == 2


def test_candidates_are_built_from_one_seed_so_runs_compare_like_with_like():
    comparison = layer_comparison([("flgc", {"groups": 8})], in_channels=32, out_channels=32, kernel_size=1, size=4)
    trained = comparison.candidates[1]
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first, second = trained.build_seeded(), trained.build_seeded()
    assert torch.equal(torch.rand(1), before)  # the caller's random state is left alone
    assert torch.equal(first.group_mask(), second.group_mask())


def test_measuring_cpu_memory_leaves_no_profiler_log_lines():
    """Kineto printed an ERROR about GPUs and USDT start/stop lines around every CPU measurement."""
    script = (
        "import torch\n"
        "from slimconv.bench.memory import peak_memory_bytes\n"
        "assert peak_memory_bytes(lambda: torch.randn(1000).sum(), torch.device('cpu')) >= 4000\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "KINETO_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "USDT" not in done.stderr and "gpuGetDeviceCount" not in done.stderr, done.stderr


def test_a_layer_comparison_builds_operators_without_the_bias_the_baseline_lacks():
    """LinearConv has a bias by default; with it, its deploy form (a plain conv) ran 3% behind the baseline."""
    plain = layer_comparison([("linearconv", {})], in_channels=4, out_channels=4, size=4)
    biased = layer_comparison([("linearconv", {"bias": True})], in_channels=4, out_channels=4, size=4)
    assert [c.build_seeded().bias is None for c in plain.candidates] == [True, True, True]
    assert [c.build_seeded().bias is None for c in biased.candidates] == [True, False, False]
    assert [c.label for c in plain.candidates[1:]] == ["linearconv train", "linearconv deploy"]
