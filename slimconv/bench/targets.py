"""The project's speed and memory targets, each a ratio against a baseline measured in the same run."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..ops import create_conv
from .cases import Candidate, Comparison, layer_comparison, model_comparison
from .runner import BenchRow, Progress, run_comparison
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


#: A latency whose interquartile range exceeds this share of its median is flagged as noisy: the
#: machine was busy, and a verdict on it should be rerun before it is believed.
NOISY_IQR_SHARE = 0.25


@dataclass(frozen=True)
class TargetResult:
    target: Target
    value: float
    bound_value: float | None = None
    noisy: tuple[str, ...] = ()  # labels of the compared rows whose IQR exceeds NOISY_IQR_SHARE of the median

    @property
    def met(self) -> bool:
        return self.value <= self.target.limit

    def __str__(self) -> str:
        t = self.target
        verdict = "met" if self.met else "MISSED"
        notes = [t.note] if t.note else []
        if self.bound_value is not None:
            notes.append(f"time limit with the replaced layers free {self.bound_value:.3f}")
        if self.noisy:
            notes.append(f"NOISY: IQR over {NOISY_IQR_SHARE:.0%} of the median for {', '.join(self.noisy)}; rerun")
        note = f"  ({'; '.join(notes)})" if notes else ""
        ratio = f"{t.candidate} / {t.baseline} {t.metric} = {self.value:.3f}"
        return f"{t.comparison.name}: {ratio} (target <= {t.limit}) {verdict}{note}"


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


def _pedconv_memory_comparison() -> Comparison:
    def fast() -> nn.Module:
        return create_conv("pedconv", 128, 128, 3)

    def reference() -> nn.Module:
        return PerSampleWeightPEDConv(create_conv("pedconv", 128, 128, 3))

    candidates = (Candidate("pedconv per-sample weights", reference, "train"), Candidate("pedconv", fast, "train"))
    return Comparison("pedconv 128->128 k3 16x16 b32 training", (32, 128, 16, 16), candidates)


# SPConv-ResNet-50 (alpha 1/2, the paper's placement): the rows model_comparison names
SPCONV_DEPLOY = "resnet50 spconv(alpha=0.5) deploy"
SPCONV_TRAIN = "resnet50 spconv(alpha=0.5) train"
DENSE = "resnet50 dense"
FREE_BOUND = "resnet50 dense, spconv's layers free"


def _spconv_resnet50(batch: int) -> Comparison:
    return model_comparison("resnet50", [("spconv", {"alpha": 0.5})], batch_size=batch, free_bound=True)


def cpu_targets() -> list[Target]:
    """The targets for a CPU (issue 3), on the shapes given there."""
    torch.manual_seed(0)
    random.seed(0)
    linear = layer_comparison(
        [("linearconv", {})], in_channels=128, out_channels=128, size=32, batch_size=16, forms=("deploy",)
    )
    flgc = layer_comparison(
        [("flgc", {"groups": 8})], in_channels=256, out_channels=256, kernel_size=1, size=32, batch_size=32
    )
    ped = layer_comparison(
        [("pedconv", {})], in_channels=128, out_channels=128, size=16, batch_size=32, forms=("deploy",)
    )
    targets = [
        Target(linear, "linearconv deploy", "conv2d", 1.05),
        Target(
            flgc,
            "flgc(groups=8) deploy",
            "conv2d",
            0.40,
            note=f"ideal MAC ratio sum_g n_g m_g / C N = {_flgc_ideal_ratio():.3f} at random init",
        ),
        Target(ped, "pedconv deploy", "conv2d", 1.5),
        Target(
            _pedconv_memory_comparison(),
            "pedconv",
            "pedconv per-sample weights",
            0.25,
            metric="memory",
            mode="training",
        ),
    ]
    for batch in (1, 8):
        resnet = _spconv_resnet50(batch)
        targets.append(Target(resnet, SPCONV_DEPLOY, DENSE, 0.85, note="MAC ratio 0.71", bound=FREE_BOUND))
        targets.append(
            Target(resnet, SPCONV_DEPLOY, SPCONV_TRAIN, 1.0, note="deploy form faster than the training form")
        )
    return targets


def gpu_targets() -> list[Target]:
    """The GPU targets: SPConv-ResNet-50 against dense ResNet-50 at batch 64 and 1 (the paper's setting)."""
    paper = "the paper's 1.23 / 1.32 ms at batch 64"
    return [
        Target(_spconv_resnet50(64), SPCONV_DEPLOY, DENSE, 0.93, note=paper, bound=FREE_BOUND),
        Target(_spconv_resnet50(1), SPCONV_DEPLOY, DENSE, 1.0, bound=FREE_BOUND),
    ]


def _value(target: Target, rows: list[BenchRow], candidate_label: str | None = None) -> float:
    by_label = {row.label: row for row in rows}
    candidate, baseline = by_label[candidate_label or target.candidate], by_label[target.baseline]
    if target.metric == "memory":
        if not candidate.peak_memory_bytes or not baseline.peak_memory_bytes:
            return float("nan")
        return candidate.peak_memory_bytes / baseline.peak_memory_bytes
    return candidate.median_ms / baseline.median_ms


def _noisy(target: Target, rows: list[BenchRow]) -> tuple[str, ...]:
    if target.metric != "latency":
        return ()
    by_label = {row.label: row for row in rows}
    compared = [by_label[label] for label in (target.candidate, target.baseline)]
    return tuple(row.label for row in compared if row.iqr_ms > NOISY_IQR_SHARE * row.median_ms)


def run_targets(
    targets: list[Target], setup: BenchSetup, progress: Progress | None = None
) -> tuple[list[BenchRow], list[TargetResult]]:
    """Run each distinct comparison once (in the target's mode) and evaluate every target on it."""
    rows: list[BenchRow] = []
    measured: dict[int, list[BenchRow]] = {}
    results = []
    for target in targets:
        key = id(target.comparison)
        if key not in measured:
            mode_setup = BenchSetup(**{**setup.__dict__, "mode": target.mode})
            measured[key] = run_comparison(target.comparison, mode_setup, progress)
            rows += measured[key]
        bound = None if target.bound is None else _value(target, measured[key], target.bound)
        results.append(TargetResult(target, _value(target, measured[key]), bound, _noisy(target, measured[key])))
    return rows, results
