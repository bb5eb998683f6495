"""How many forward passes and how much time ``analysis.redundancy_report`` costs for ResNet-50 on
one 224 x 224 image on the CPU (target: at most 3 forward passes).

Run from the repository root:  python -m benchmarks.redundancy_report_passes [--repeats 3]

Passes are counted with a forward pre-hook on the model itself (every call of ``model(x)``).
The model has random weights (torchvision's ``resnet50(weights=None)``): the cost does not depend
on the weights, the scores do. Prints the CPU model, torch threads, batch, dtype and the timings.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

from analysis import conv_layer_names, redundancy_report
from slimconv.hardware import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each measurement (default 3)")
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    args = parser.parse_args()
    if args.repeats < 1 or args.size < 32:
        raise SystemExit("--repeats must be >= 1 and --size >= 32")

    torch.manual_seed(0)
    dtype = torch.float32
    model = torchvision.models.resnet50(weights=None).eval().to(dtype)
    image = torch.randn(1, 3, args.size, args.size, dtype=dtype)
    passes = 0

    def count_pass(module: torch.nn.Module, inputs: tuple) -> None:
        nonlocal passes
        passes += 1

    print(f"CPU: {cpu_name()} ({torch.get_num_threads()} torch threads); torch {torch.__version__}")
    print(f"model: torchvision resnet50 (random weights), {len(conv_layer_names(model))} conv layers")
    print(f"batch: 1 image {args.size}x{args.size}, dtype {str(dtype).removeprefix('torch.')}")

    with torch.no_grad():
        model(image)  # warm-up, not counted
    forward_s = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        with torch.no_grad():
            model(image)
        forward_s.append(time.perf_counter() - start)

    handle = model.register_forward_pre_hook(count_pass)
    report_s, passes_per_report = [], []
    try:
        for _ in range(args.repeats):
            passes = 0
            start = time.perf_counter()
            report = redundancy_report(model, image)
            report_s.append(time.perf_counter() - start)
            passes_per_report.append(passes)
    finally:
        handle.remove()

    print(f"plain forward pass: median {statistics.median(forward_s) * 1000:.0f} ms over {args.repeats} runs")
    print(
        f"redundancy_report: {len(report.layer_names)} layers scored, forward passes per call: {passes_per_report} "
        f"(target <= 3); median {statistics.median(report_s):.2f} s, min {min(report_s):.2f} s"
    )
    widest = max(report.scores, key=lambda s: s.channels)
    print(
        f"widest layer: {widest.channels} channels, effective rank {widest.effective_rank:.1f} "
        f"(max allowed by its positions: {widest.max_rank})"
    )
    if max(passes_per_report) > 3:
        raise SystemExit("FAILED: more than 3 forward passes")


if __name__ == "__main__":
    main()
