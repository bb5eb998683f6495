"""``python -m slimconv.train`` (or ``slimconv-train``): train a zoo model, dense or with an operator.

Examples::

    slimconv-train --model resnet20 --dataset fashion-mnist --epochs 30 --out runs/r20-fmnist
    slimconv-train --model resnet20 --op spconv:alpha=0.5 --dataset cifar10 --epochs 200 --out runs/r20-sp
    slimconv-train --model resnet20 --op linearconv:variant=lowrank,rank=10 --subset 2000 --epochs 2 --out runs/quick
    slimconv-train ... --resume                       # continue a killed run exactly where it stopped
    torchrun --nproc_per_node 4 -m slimconv.train --model mobilenetv2_cifar --op flgc:groups=8 --dataset cifar10 ...
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import NonFiniteLossError, SlimconvError
from ..op_spec import parse_op
from .config import OPTIMIZERS, SCHEDULES, TrainConfig
from .datasets import DATASETS
from .run import train

_EPILOG = """Augmentation per dataset: fashion-mnist 28->32 black padding, random crop (2 px), flip; mnist the
same without flip; cifar10/100 random crop (4 px) + flip; svhn random crop (4 px); imagefolder
RandomResizedCrop + flip. Files in --out: checkpoint.pt (every epoch, resumable), metrics.jsonl,
model.pt (final weights + metadata), summary.json."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slimconv-train", description=__doc__.split("\n\n")[0], epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="resnet20", help="zoo or torchvision model (slimconv.list_models())")
    model.add_argument("--op", type=parse_op, default=None, metavar="OP[:key=value,...]",
                       help="operator and options, e.g. spconv:alpha=0.5 (default: dense)")
    model.add_argument("--policy", default=None, help="which convs the operator replaces (default: the paper's)")
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="fashion-mnist", choices=DATASETS)
    data.add_argument("--data-dir", default="data", help="where datasets are read from and downloaded to")
    data.add_argument("--download", action=argparse.BooleanOptionalAction, default=True)
    data.add_argument("--image-size", type=int, default=32, help="imagefolder only: model input size")
    data.add_argument("--in-chans", type=int, default=None, help="imagefolder only: 1 (grayscale) or 3")
    data.add_argument("--subset", type=int, default=None, metavar="N",
                      help="train on N random images (and test on up to N) for a quick run")
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--epochs", type=int, default=100)
    optim.add_argument("--batch-size", type=int, default=128, help="per process")
    optim.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS)
    optim.add_argument("--lr", type=float, default=None, help="default: sgd 0.1, adam/adamw 1e-3")
    optim.add_argument("--momentum", type=float, default=0.9)
    optim.add_argument("--nesterov", action="store_true")
    optim.add_argument("--weight-decay", type=float, default=None, help="default: sgd 5e-4, adam 0, adamw 0.05")
    optim.add_argument("--schedule", default="cosine", choices=SCHEDULES)
    optim.add_argument("--milestones", type=int, nargs="+", default=None,
                       help="step schedule: epochs after which lr *= gamma (default: 50%% and 75%% of --epochs)")
    optim.add_argument("--gamma", type=float, default=0.1)
    optim.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up (may be fractional)")
    optim.add_argument("--label-smoothing", type=float, default=0.0)
    optim.add_argument("--seed", type=int, default=0)
    regular = parser.add_argument_group("operator regularisers")
    regular.add_argument("--linearconv-corr-weight", type=float, default=0.01)
    regular.add_argument("--linearconv-corr-every", type=int, default=10, help="apply it every N-th step")
    regular.add_argument("--linearconv-l1", type=float, default=1e-4, help="sparse LinearConv: L1 on coefficients")
    regular.add_argument("--flgc-balance", type=float, default=0.0, help="FLGC group-size balance loss weight")
    regular.add_argument("--pedconv-infomax-weight", type=float, default=TrainConfig.pedconv_infomax_weight,
                         help="for PEDConv layers built with infomax=True")
    run = parser.add_argument_group("run")
    run.add_argument("--out", default="runs/run", help="run folder (checkpoints, metrics, final model)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available)")
    run.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                     help="mixed precision: float16 on CUDA (default on there), bfloat16 on CPU (default off)")
    run.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                     help="default: on with CUDA")
    run.add_argument("--workers", type=int, default=None, help="data loader processes (default: CUDA 4, CPU 0)")
    run.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="tqdm progress bars")
    run.add_argument("--safetensors", action="store_true", help="also export model.safetensors")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` of parsed command-line arguments (``ValueError`` for bad combinations)."""
    values = dict(vars(args))
    op = values.pop("op")
    values["op"], values["options"] = op if op is not None else (None, {})
    values["milestones"] = None if values["milestones"] is None else tuple(values["milestones"])
    return TrainConfig(**values)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, train, print the summary. Exit status 0 done, 1 stopped on a NaN loss, 2 bad arguments or files
    (``--out`` is checked before any work: a file, not writable, or no space gives one line, no traceback)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = train(config_from_args(args))
    except NonFiniteLossError as error:
        print(f"slimconv-train: stopped: {error}", file=sys.stderr)
        return 1
    except (SlimconvError, ValueError) as error:
        print(f"slimconv-train: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file of the run could not be written or read (disk full, permissions)
        where = f" ({error.filename})" if error.filename else ""
        print(f"slimconv-train: {error.strerror or error}{where}; check --out and --data-dir", file=sys.stderr)
        return 2
    metrics = result.metrics
    nan = float("nan")
    print(f"done in {result.seconds:.1f} s: {metrics.get('epochs', 0)} epochs, test accuracy "
          f"{metrics.get('test_accuracy', nan):.4f} (train {metrics.get('train_accuracy', nan):.4f}), "
          f"{result.params:,} params, {result.macs / 1e6:.2f} M MACs; model {result.model_path}")
    return 0
