"""Operator benchmarks: one timing engine (interleaved rounds, paired ratios, 95% intervals, a verdict)
and the comparisons, records and targets built on it."""

from .cases import Candidate, Comparison, layer_comparison, model_comparison
from .clocks import Block, BlockTimer, CpuBlockTimer, CudaEventBlockTimer
from .engine import CandidateTiming, EngineResult, EngineSettings, Environment, measure
from .records import format_table, ratio_text, verdict_lines, write_records
from .runner import BenchRow, ComparisonRun, measure_comparison, run_comparison
from .setup import BenchSetup
from .stats import MedianInterval, median_interval
from .targets import Target, TargetResult, cpu_targets, gpu_targets, run_targets
from .verdict import Verdict

__all__ = [
    "BenchRow",
    "BenchSetup",
    "Block",
    "BlockTimer",
    "Candidate",
    "CandidateTiming",
    "Comparison",
    "ComparisonRun",
    "CudaEventBlockTimer",
    "EngineResult",
    "EngineSettings",
    "Environment",
    "MedianInterval",
    "Target",
    "TargetResult",
    "CpuBlockTimer",
    "Verdict",
    "cpu_targets",
    "format_table",
    "gpu_targets",
    "layer_comparison",
    "measure",
    "measure_comparison",
    "median_interval",
    "model_comparison",
    "ratio_text",
    "run_comparison",
    "run_targets",
    "verdict_lines",
    "write_records",
]
