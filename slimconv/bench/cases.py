"""What to compare: groups of candidates that share a baseline measured in the same run."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..convert import convert
from ..deploy import deploy
from ..models import create_model
from ..ops import create_conv, get_op
from .free_layer import FreeLayer

FORMS = ("train", "deploy")
#: Every candidate is built from this seed: random initial state (FLGC's groups, and with them its deployed
#: cost) is the same in every run and in both forms of one operator, so runs compare like with like.
BUILD_SEED = 0


@dataclass(frozen=True)
class Candidate:
    """One module to time. ``form`` is ``"dense"`` for the baseline, ``"train"`` for the operator as
    trained (run in eval mode), ``"deploy"`` for its fused deploy form."""

    label: str
    build: Callable[[], nn.Module]
    form: str
    details: dict[str, Any] = field(default_factory=dict)

    def build_seeded(self) -> nn.Module:
        """``build()`` from ``BUILD_SEED``, leaving the caller's random state as it was."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(BUILD_SEED)
            return self.build()


@dataclass(frozen=True)
class Comparison:
    """Candidates timed together, interleaved, against ``candidates[0]`` (the baseline).

    A candidate of form ``"bound"`` is the dense model with the layers an operator replaces made
    free: the fastest any operator at that placement could make the model (Amdahl's limit)."""

    name: str
    input_shape: tuple[int, int, int, int]
    candidates: tuple[Candidate, ...]


def _options_text(options: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(options.items()))


def _like_the_baseline(op: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options``, with ``bias=False`` where the operator takes a bias and they leave it unset: the
    baseline ``nn.Conv2d`` has none, and a bias costs a pass over the output (LinearConv's default
    one made its deploy form, a plain conv, 3% slower than the baseline, for the bias alone)."""
    if "bias" in options or "bias" not in inspect.signature(get_op(op).__init__).parameters:
        return options
    return {"bias": False, **options}


def layer_comparison(
    ops: Sequence[tuple[str, dict[str, Any]]],
    *,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    size: int = 32,
    batch_size: int = 1,
    forms: Sequence[str] = FORMS,
    prepare: Callable[[nn.Module], None] | None = None,
) -> Comparison:
    """``nn.Conv2d`` against each ``(op, options)`` in each of ``forms``, on one layer shape.

    The baseline has no bias, and neither has an operator unless ``options`` give it one.

    ``prepare`` (optional) is applied to every operator layer after it is built (e.g. to set learned
    state such as FLGC's groups before deploying).
    """
    geometry = dict(in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size, stride=stride)
    name = f"{in_channels}->{out_channels} k{kernel_size} s{stride} {size}x{size} b{batch_size}"
    candidates = [
        Candidate(
            "conv2d",
            lambda: nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
            "dense",
            {"op": "conv2d", **geometry},
        )
    ]
    for op, options in ops:

        def build_layer(op=op, options=options) -> nn.Module:
            layer = create_conv(op, in_channels, out_channels, kernel_size, stride, **_like_the_baseline(op, options))
            if prepare is not None:
                prepare(layer)
            return layer.eval()

        for form in forms:
            build = build_layer if form == "train" else (lambda b=build_layer: deploy(b()))
            text = _options_text(options)
            label = f"{op}({text}) {form}" if text else f"{op} {form}"
            candidates.append(Candidate(label, build, form, {"op": op, "options": text, **geometry}))
    return Comparison(name, (batch_size, in_channels, size, size), tuple(candidates))


def model_comparison(
    model: str | Callable[[], nn.Module],
    ops: Sequence[tuple[str, dict[str, Any]]],
    *,
    policy: str | None = None,
    size: int = 224,
    in_chans: int = 3,
    batch_size: int = 1,
    forms: Sequence[str] = FORMS,
    free_bound: bool = False,
    label: str | None = None,
) -> Comparison:
    """The dense model against each operator's converted model, in each of ``forms``.

    ``model``: a zoo or torchvision name, or a function returning a fresh dense model (e.g. a copy of
    the one loaded in the lab; ``label`` then names it). Converted copies are made with ``convert``.
    ``free_bound``: also time the dense model with the first operator's replaced layers free
    (form ``"bound"``), the limit of any speed-up at that placement.
    """
    if isinstance(model, str):
        label = label or model
        name = model

        def build_dense() -> nn.Module:
            return create_model(name, in_chans=in_chans).eval()

    else:
        build_dense, label = model, label or "model"
    candidates = [Candidate(f"{label} dense", build_dense, "dense", {"model": label, "op": "conv2d"})]
    for op, options in ops:

        def build_model(op=op, options=options) -> nn.Module:
            return convert(build_dense(), op, policy=policy, inplace=True, **options).eval()

        for form in forms:
            build = build_model if form == "train" else (lambda b=build_model: deploy(b()))
            text = _options_text(options)
            candidates.append(
                Candidate(
                    f"{label} {op}({text}) {form}",
                    build,
                    form,
                    {"model": label, "op": op, "options": text, "policy": policy or "paper"},
                )
            )
    if free_bound and ops:
        op, options = ops[0]

        def build_bound() -> nn.Module:
            dense = build_dense()
            _, report = convert(dense, op, policy=policy, return_report=True, **options)
            for layer in report.replaced:
                dense.set_submodule(layer.name, FreeLayer(dense.get_submodule(layer.name)))
            return dense

        candidates.append(
            Candidate(
                f"{label} dense, {op}'s layers free",
                build_bound,
                "bound",
                {"model": label, "op": "conv2d", "policy": policy or "paper"},
            )
        )
    return Comparison(f"{label} {size}x{size} b{batch_size}", (batch_size, in_chans, size, size), tuple(candidates))
