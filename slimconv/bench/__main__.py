"""``python -m slimconv.bench`` (or ``slimconv-bench``): layer, model and target benchmarks.

Examples::

    slimconv-bench layer --op spconv --op linearconv:variant=lowrank,rank=10 --in 64 --out 64 --size 56 --batch 1 8
    slimconv-bench model --model resnet50 --op spconv:alpha=0.5 --batch 1 8
    slimconv-bench targets --out docs/benchmarks

Every ratio comes with its 95% interval and a verdict; a noisy one is marked NOISY with what disturbed it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from ..op_spec import check_op, parse_op
from ..policies import POLICIES
from .cases import FORMS, layer_comparison, model_comparison
from .records import format_table, verdict_lines, write_records
from .runner import BenchRow, run_comparison
from .setup import DTYPES, MODES, BenchSetup
from .targets import cpu_targets, gpu_targets, run_targets

OP_HELP = "operator to compare, NAME or NAME:key=value,...; repeat for several (e.g. spconv:alpha=0.25)"
BATCH_HELP = "one or more batch sizes, each its own comparison (default: 1)"
FORMS_HELP = "train: the operator as trained (run in eval); deploy: its fused inference form (default: both)"
MODE_HELP = "inference, or training (forward + backward; peak memory of a step) (default: inference)"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--dtype", default="float32", choices=list(DTYPES), help="parameter and input dtype")
    parser.add_argument("--channels-last", action="store_true", help="inputs and modules in channels-last layout")
    parser.add_argument("--compile", action="store_true", help="wrap every candidate in torch.compile")
    parser.add_argument("--threads", type=int, default=None, help="CPU intra-op threads (default: torch's)")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds per comparison: rounds are added until every ratio's 95%% interval is "
                             "within ±5%% or this is spent (default: 20)")
    parser.add_argument("--min-rounds", type=int, default=6, help="interleaved rounds at least (default: 6)")
    parser.add_argument("--block-time", type=float, default=0.05, help="seconds per timed block (default: 0.05)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the CSV and JSON records")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slimconv-bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    layer = sub.add_parser("layer", help="one layer shape: nn.Conv2d against operators")
    layer.add_argument("--op", dest="ops", type=parse_op, action="append", required=True, help=OP_HELP)
    layer.add_argument("--in", dest="in_channels", type=int, default=64, help="input channels (default: 64)")
    layer.add_argument(
        "--out-channels", "--out-ch", dest="out_channels", type=int, default=64, help="output channels (default: 64)"
    )
    layer.add_argument("-k", "--kernel-size", type=int, default=3, help="square kernel size (default: 3)")
    layer.add_argument("--stride", type=int, default=1, help="(default: 1)")
    layer.add_argument("--size", type=int, default=32, help="input height and width (default: 32)")
    layer.add_argument("--batch", type=int, nargs="+", default=[1], help=BATCH_HELP)
    layer.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS), help=FORMS_HELP)
    layer.add_argument("--mode", choices=MODES, default="inference", help=MODE_HELP)
    model = sub.add_parser("model", help="a zoo or torchvision model: dense against converted")
    model.add_argument("--model", required=True, help="a zoo or torchvision model name, e.g. resnet50, resnet20")
    model.add_argument("--op", dest="ops", type=parse_op, action="append", required=True, help=OP_HELP)
    model.add_argument(
        "--policy", default=None, choices=POLICIES, help="which convs to replace (default: the paper's placement)"
    )
    model.add_argument("--size", type=int, default=224, help="input height and width (default: 224)")
    model.add_argument("--in-chans", type=int, default=3, help="input channels (default: 3)")
    model.add_argument("--batch", type=int, nargs="+", default=[1], help=BATCH_HELP)
    model.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS), help=FORMS_HELP)
    model.add_argument("--mode", choices=MODES, default="inference", help=MODE_HELP)
    targets = sub.add_parser("targets", help="the project's speed and memory targets (CPU, or GPU on cuda)")
    targets.add_argument("--quick", action="store_true",
                         help="the same targets on small shapes: checks the code path, says nothing of speed")
    for command in sub.choices.values():
        _common(command)
    return parser


def _setup(args: argparse.Namespace) -> BenchSetup:
    return BenchSetup(
        device=args.device,
        dtype=args.dtype,
        channels_last=args.channels_last,
        compile=args.compile,
        threads=args.threads,
        mode=getattr(args, "mode", "inference"),
        budget_s=args.budget,
        min_rounds=args.min_rounds,
        block_time_s=args.block_time,
    )


def _check_ops(args: argparse.Namespace) -> None:
    """Fail before any timing on an unknown operator or a bad option (ValueError with its message)."""
    geometry = (args.in_channels, args.out_channels, args.kernel_size) if args.command == "layer" else ()
    for op, options in getattr(args, "ops", []):
        check_op(op, options, *geometry)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        setup = _setup(args)
        _check_ops(args)
    except ValueError as error:
        print(f"slimconv-bench: {error}", file=sys.stderr)
        return 2
    bar = tqdm(total=100, unit="%", leave=False, file=sys.stderr, bar_format="{percentage:3.0f}% {bar:20} {desc}")

    def progress(fraction: float, text: str) -> None:
        bar.n = round(100 * fraction)
        bar.set_description(text[:90])
        bar.refresh()

    rows: list[BenchRow] = []
    verdicts = []
    try:
        if args.command == "targets":
            targets = (gpu_targets if setup.device.startswith("cuda") else cpu_targets)(quick=args.quick)
            rows, verdicts = run_targets(targets, setup, progress)
        else:
            for batch in args.batch:
                if args.command == "layer":
                    comparison = layer_comparison(
                        args.ops,
                        in_channels=args.in_channels,
                        out_channels=args.out_channels,
                        kernel_size=args.kernel_size,
                        stride=args.stride,
                        size=args.size,
                        batch_size=batch,
                        forms=args.forms,
                    )
                else:
                    comparison = model_comparison(
                        args.model,
                        args.ops,
                        policy=args.policy,
                        size=args.size,
                        in_chans=args.in_chans,
                        batch_size=batch,
                        forms=args.forms,
                    )
                bar.reset()
                rows += run_comparison(comparison, setup, progress)
    except ValueError as error:
        bar.close()
        print(f"slimconv-bench: {error}", file=sys.stderr)
        return 2
    bar.close()
    described = setup.describe()
    print(
        f"# {described['device_name']}, {described['threads_used']} threads, {setup.dtype}, "
        f"{'channels_last' if setup.channels_last else 'NCHW'}, torch {described['torch']}, {setup.mode}"
    )
    print(format_table(rows))
    print("Verdicts:")
    for line in verdict_lines(rows):
        print(f"  {line}")
    if verdicts:
        print("Targets:")
    for verdict in verdicts:
        print(f"  {verdict}")
    kind = "targets-quick" if getattr(args, "quick", False) else args.command
    if args.out is not None:
        for path in write_records(rows, setup, args.out, kind, [str(v) for v in verdicts]):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
