"""Operator benchmarks: interleaved, CUDA-synchronised timing against a baseline of the same run."""

from .cases import Candidate, Comparison, layer_comparison, model_comparison
from .records import format_table, write_records
from .runner import BenchRow, run_comparison
from .setup import BenchSetup
from .targets import Target, TargetResult, cpu_targets, gpu_targets, run_targets

__all__ = [
    "BenchRow",
    "BenchSetup",
    "Candidate",
    "Comparison",
    "Target",
    "TargetResult",
    "cpu_targets",
    "format_table",
    "gpu_targets",
    "layer_comparison",
    "model_comparison",
    "run_comparison",
    "run_targets",
    "write_records",
]
