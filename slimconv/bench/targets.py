"""The project's speed and memory targets, each a ratio against a baseline measured in the same run."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ..ops import create_conv
from .cases import Candidate, Comparison, layer_comparison, model_comparison
from .engine import Progress
from .runner import BenchRow, ComparisonRun, measure_comparison
from .setup import BenchSetup


@dataclass(frozen=True)
class Target:
    """``candidate``'s ``metric`` (``"latency"`` or ``"memory"``) over ``baseline``'s must be <= ``limit``."""

    comparison: Comparison
    candidate: str
    baseline: str
    limit: float
    metric: str = "latency"
    note: str = ""
    mode: str = "inference"
    bound: str | None = None  # a "bound" candidate: its ratio to the baseline is the reachable limit


@dataclass(frozen=True)
class TargetResult:
    """``value``: the candidate's latency over the baseline's (median of paired rounds) or peak-memory
    ratio; ``low``/``high`` its 95% interval (equal to it for memory, which does not vary); ``noisy``:
    the engine's verdict on the comparison, which leaves a latency target undecided."""

    target: Target
    value: float
    low: float
    high: float
    bound_value: float | None = None
    noisy: bool = False
    verdict: str = ""

    @property
    def met(self) -> bool:
        return self.value <= self.target.limit and not self.noisy

    @property
    def status(self) -> str:
        if self.noisy:
            return "UNDECIDED"
        if self.met:
            return "met"
        over = f" by {self.value / self.target.limit - 1:.1%}" if self.target.limit > 0 else ""
        return f"MISSED{over}"

    def __str__(self) -> str:
        t = self.target
        notes = [t.note] if t.note else []
        if self.bound_value is not None:
            notes.append(f"time limit with the replaced layers free {self.bound_value:.3f}")
        if self.noisy:
            notes.append(f"undecided because: {self.verdict}")
        note = f"  ({'; '.join(notes)})" if notes else ""
        interval = f" [{self.low:.3f}, {self.high:.3f}]" if t.metric == "latency" else ""
        ratio = f"{t.candidate} / {t.baseline} {t.metric} = {self.value:.3f}{interval}"
        return f"{t.comparison.name}: {ratio} (target <= {t.limit}) {self.status}{note}"


class PerSampleWeightPEDConv(nn.Module):
    """PEDConv run the public code's way (B per-sample weights, one conv with groups = B): the
    reference that PEDConv's memory target is measured against."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer.reference_forward(x)


def _flgc_ideal_ratio(seed: int = 0) -> float:
    torch.manual_seed(seed)
    layer = create_conv("flgc", 256, 256, 1, groups=8)
    return layer.deployed_macs_per_position() / (256 * 256)


def _pedconv_memory_comparison(batch: int = 32, size: int = 16) -> Comparison:
    def fast() -> nn.Module:
        return create_conv("pedconv", 128, 128, 3)

    def reference() -> nn.Module:
        return PerSampleWeightPEDConv(create_conv("pedconv", 128, 128, 3))

    candidates = (Candidate("pedconv per-sample weights", reference, "train"), Candidate("pedconv", fast, "train"))
    return Comparison(f"pedconv 128->128 k3 {size}x{size} b{batch} training", (batch, 128, size, size), candidates)


# SPConv-ResNet-50 (alpha 1/2, the paper's placement): the rows model_comparison names
SPCONV_DEPLOY = "resnet50 spconv(alpha=0.5) deploy"
SPCONV_TRAIN = "resnet50 spconv(alpha=0.5) train"
DENSE = "resnet50 dense"
FREE_BOUND = "resnet50 dense, spconv's layers free"


def _spconv_resnet50(batch: int, size: int = 224) -> Comparison:
    return model_comparison("resnet50", [("spconv", {"alpha": 0.5})], batch_size=batch, size=size, free_bound=True)


def _operator_targets(batch: int, quick: bool) -> list[Target]:
    """LinearConv, FLGC G=8 and PEDConv deploy against nn.Conv2d, and PEDConv's training memory.
    ``quick``: the same comparisons on small shapes, to check the code path, not the speed."""
    torch.manual_seed(0)
    random.seed(0)
    side = 8 if quick else 32
    batch = 2 if quick else batch
    linear = layer_comparison([("linearconv", {})], in_channels=128, out_channels=128, size=side,
                              batch_size=batch // 2 or 1, forms=("deploy",))
    flgc = layer_comparison([("flgc", {"groups": 8})], in_channels=256, out_channels=256, kernel_size=1, size=side,
                            batch_size=batch)
    ped = layer_comparison([("pedconv", {})], in_channels=128, out_channels=128, size=side // 2, batch_size=batch,
                           forms=("deploy",))
    flgc_note = f"ideal MAC ratio sum_g n_g m_g / C N = {_flgc_ideal_ratio():.3f} at random init"
    return [
        Target(linear, "linearconv deploy", "conv2d", 1.05),
        Target(flgc, "flgc(groups=8) deploy", "conv2d", 0.40, note=flgc_note),
        Target(ped, "pedconv deploy", "conv2d", 1.5),
        Target(_pedconv_memory_comparison(batch, side // 2), "pedconv", "pedconv per-sample weights", 0.25,
               metric="memory", mode="training"),
    ]


def _spconv_targets(batch: int, limit: float, quick: bool, note: str = "") -> list[Target]:
    resnet = _spconv_resnet50(1 if quick else batch, 64 if quick else 224)
    return [
        Target(resnet, SPCONV_DEPLOY, DENSE, limit, note="; ".join(filter(None, ["MAC ratio 0.71", note])),
               bound=FREE_BOUND),
        Target(resnet, SPCONV_DEPLOY, SPCONV_TRAIN, 1.0, note="deploy form faster than the training form"),
    ]


def cpu_targets(quick: bool = False) -> list[Target]:
    """The CPU targets (issue 15): the operators at the shapes given there, SPConv-ResNet-50 at batch 1 and 8."""
    targets = _operator_targets(32, quick)
    for batch in (1,) if quick else (1, 8):
        targets += _spconv_targets(batch, 0.85, quick)
    return targets


def gpu_targets(quick: bool = False) -> list[Target]:
    """The GPU targets (issue 19): the operators at batch 64, SPConv-ResNet-50 at batch 64 and 1."""
    paper = "the paper's 1.23 / 1.32 ms at batch 64"
    return (_operator_targets(64, quick) + _spconv_targets(64, 0.93, quick, paper)
            + ([] if quick else _spconv_targets(1, 1.0, quick)))


def _evaluate(target: Target, run: ComparisonRun, setup: BenchSetup) -> TargetResult:
    by_label = {row.label: row for row in run.rows}
    candidate, baseline = by_label[target.candidate], by_label[target.baseline]
    if target.metric == "memory":
        known = candidate.peak_memory_bytes and baseline.peak_memory_bytes
        value = candidate.peak_memory_bytes / baseline.peak_memory_bytes if known else float("nan")
        return TargetResult(target, value, value, value)
    ratio = run.paired_ratio(target.candidate, target.baseline)
    bound = None if target.bound is None else run.paired_ratio(target.bound, target.baseline).median
    verdict = undecided_reason(
        target.limit, ratio.low, ratio.high, ratio.half_width, setup.target_half_width,
        noisy_rows=[row for row in (candidate, baseline) if row.noisy],
    )
    return TargetResult(target, ratio.median, ratio.low, ratio.high, bound, bool(verdict), verdict)


def undecided_reason(
    limit: float, low: float, high: float, half_width: float, target_half_width: float, noisy_rows: list
) -> str:
    """Why a latency target cannot be decided, or "" when it can.

    A noisy comparison decides nothing. On a stable one, a ratio whose own interval is wider than the
    target half-width still decides the target when the whole interval lies on one side of the limit:
    the wide interval only leaves it open when it contains the limit.
    """
    if noisy_rows:
        return noisy_rows[0].verdict
    if half_width > target_half_width and low <= limit < high:
        return (f"this ratio's 95% interval is ±{half_width:.1%} (wider than ±{target_half_width:.0%}) and "
                f"contains the limit {limit}. To do: raise the time budget (more rounds narrow the interval)")
    return ""


def run_targets(
    targets: list[Target], setup: BenchSetup, progress: Progress | None = None
) -> tuple[list[BenchRow], list[TargetResult]]:
    """Run each distinct comparison once (in the target's mode) and evaluate every target on it."""
    rows: list[BenchRow] = []
    measured: dict[int, ComparisonRun] = {}
    results = []
    for target in targets:
        key = id(target.comparison)
        if key not in measured:
            mode_setup = replace(setup, mode=target.mode)
            measured[key] = measure_comparison(target.comparison, mode_setup, progress)
            rows += measured[key].rows
        results.append(_evaluate(target, measured[key], setup))
    return rows, results
