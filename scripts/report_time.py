"""Wall time of ``analysis.redundancy_report`` against one forward pass of the same images.

torchvision ResNet-50 with random weights (the cost does not depend on the weights), 224 x 224
float32 images, 2 torch threads, CPU; for 1 and for 8 images. Forward pass and report are timed
interleaved (forward, report, forward, report, ...) so that load from other processes hits both
alike; the ratio is the median of the per-round ratios. Writes docs/benchmarks/redundancy_report_time.txt.

Run from the repository root:  python scripts/report_time.py [--rounds 5] [--out PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import redundancy_report  # noqa: E402
from slimconv.hardware import cpu_name  # noqa: E402

TARGET_RATIO = 3.0
THREADS = 2


def _seconds(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(model: torch.nn.Module, batch: int, rounds: int) -> dict[str, float]:
    images = torch.randn(batch, 3, 224, 224)

    def forward() -> None:
        with torch.no_grad():
            model(images)

    def report() -> None:
        redundancy_report(model, images)

    forward(), report()  # warm-up
    forward_s, report_s = [], []
    for _ in range(rounds):
        forward_s.append(_seconds(forward))
        report_s.append(_seconds(report))
    ratios = [r / f for r, f in zip(report_s, forward_s, strict=True)]
    return dict(forward_s=statistics.median(forward_s), report_s=statistics.median(report_s),
                ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timed rounds per batch (default 5)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/redundancy_report_time.txt"))
    args = parser.parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    lines = [
        f"CPU: {cpu_name()}, {torch.get_num_threads()} torch threads; torch {torch.__version__}",
        "model: torchvision resnet50 (random weights), 224x224 float32 images, redundancy_report defaults",
        f"{args.rounds} interleaved rounds per batch; medians; target: report <= {TARGET_RATIO:g}x one forward pass",
    ]
    for batch in (1, 8):
        m = measure(model, batch, args.rounds)
        verdict = "met" if m["ratio"] <= TARGET_RATIO else "NOT met"
        lines.append(
            f"batch {batch}: forward {m['forward_s'] * 1e3:.0f} ms, report {m['report_s'] * 1e3:.0f} ms, "
            f"ratio {m['ratio']:.1f}x (rounds {m['ratio_min']:.1f}-{m['ratio_max']:.1f}), target {verdict}"
        )
        print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
