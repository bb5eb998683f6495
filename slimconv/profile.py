"""Exact counting: parameters, conv + linear multiply-accumulates, and a per-layer table.

MACs are measured with ``torch.utils.flop_counter.FlopCounterMode`` on one eval forward, which sees
every ``F.conv2d``/matmul an operator issues (hook-based counters miss those inside custom modules).
It reports FLOPs = 2 x MACs for convolution and matrix products; elementwise work, pooling and
normalisation are not counted.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ._validate import nn_module
from .conv_layers import conv_layers
from .ops import SlimConv2d


def _training_only_ids(model: nn.Module) -> set[int]:
    return {id(p) for m in model.modules() if isinstance(m, SlimConv2d) for p in m.training_only_parameters()}


def count_params(model: nn.Module) -> int:
    """Parameters of the model as deployed: every ``nn.Parameter`` except training-only ones.

    Buffers (BN statistics, fixed masks) are not parameters. FLGC's assignment logits and PEDConv's
    decoder are training-only and counted by ``count_training_only_params``.
    """
    skip = _training_only_ids(nn_module("model", model))
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


def count_training_only_params(model: nn.Module) -> int:
    """Trainable parameters that only training uses (dropped by ``deploy``)."""
    skip = _training_only_ids(nn_module("model", model))
    return sum(p.numel() for p in model.parameters() if id(p) in skip)


def batch_shape(input_size: Sequence[int], batch_size: int = 1) -> tuple[int, int, int, int]:
    """``(C, H, W)`` -> ``(batch_size, C, H, W)``; a 4-tuple is taken as it is."""
    size = tuple(input_size) if isinstance(input_size, Sequence) and not isinstance(input_size, str) else ()
    if len(size) == 3:
        size = (batch_size, *size)
    if len(size) != 4 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in size):
        raise ValueError(f"input_size must be (C, H, W) or (B, C, H, W) of positive ints, got {input_size!r}")
    return tuple(int(v) for v in size)  # type: ignore[return-value]


def input_channels(model: nn.Module) -> int | None:
    """Channels the model's first convolution (in registration order) takes; None without one."""
    layers = conv_layers(model)
    return layers[0][1].in_channels if layers else None


def checked_forward(model: nn.Module, x: torch.Tensor, argument: str = "input_size") -> object:
    """``model(x)``; if it fails on an input whose channel count is not the one the model's first
    convolution takes, a ValueError naming ``argument``, the caller's name for the input (not torch's
    RuntimeError). Other failures pass through as they are: they are the model's, not the input's."""
    try:
        return model(x)
    except RuntimeError as error:
        expected = input_channels(model)
        if expected is None or expected == x.shape[1]:
            raise
        verb = "have" if argument.endswith("s") else "has"  # "images have", "input_size has"
        raise ValueError(
            f"{argument} {verb} {x.shape[1]} channels but {type(model).__name__} takes {expected}: {tuple(x.shape)}"
        ) from error


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.train(training)


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), torch.empty(0))
    return tensor.device, tensor.dtype


def _count_flops(model: nn.Module, shape: tuple[int, ...]) -> FlopCounterMode:
    device, dtype = _model_device_dtype(model)
    counter = FlopCounterMode(display=False)
    with _eval_mode(model), torch.no_grad(), counter:
        checked_forward(model, torch.zeros(shape, device=device, dtype=dtype))
    return counter


def count_macs(model: nn.Module, input_size: Sequence[int]) -> int:
    """Conv + linear multiply-accumulates of one eval forward on ``input_size`` ((C,H,W) means batch 1)."""
    return _count_flops(nn_module("model", model), batch_shape(input_size)).get_total_flops() // 2


@dataclass(frozen=True)
class LayerProfile:
    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    training_only_params: int
    macs: int


@dataclass
class ProfileTable:
    """Per-layer parameters and MACs of one form of a model, with totals."""

    form: str
    input_size: tuple[int, ...]
    layers: list[LayerProfile] = field(default_factory=list)
    params: int = 0
    training_only_params: int = 0
    macs: int = 0

    def rows(self) -> list[dict[str, object]]:
        """One dict per layer (for a DataFrame or CSV)."""
        return [layer.__dict__ | {"output_shape": "x".join(map(str, layer.output_shape))} for layer in self.layers]

    def __str__(self) -> str:
        header = f"{'layer':<40} {'type':<16} {'output':<16} {'params':>12} {'train-only':>10} {'MACs':>14}"
        lines = [f"{self.form} form, input {self.input_size}", header, "-" * len(header)]
        for r in self.layers:
            shape = "x".join(map(str, r.output_shape))
            lines.append(
                f"{r.name:<40} {r.type:<16} {shape:<16} {r.params:>12,} {r.training_only_params:>10,} {r.macs:>14,}"
            )
        lines.append("-" * len(header))
        lines.append(f"{'total':<74} {self.params:>12,} {self.training_only_params:>10,} {self.macs:>14,}")
        return "\n".join(lines)


@dataclass
class ModelProfile:
    training: ProfileTable
    deploy: ProfileTable

    def __str__(self) -> str:
        return f"{self.training}\n\n{self.deploy}"


def _is_layer(module: nn.Module) -> bool:
    """A row of the table: an operator, a module that owns parameters or buffers (a deploy form, a BN,
    a conv), or a parameter-free conv/linear leaf. Rows are not descended into."""
    if isinstance(module, SlimConv2d):
        return True
    owns_state = (
        any(True for _ in module.parameters(recurse=False))
        or any(True for _ in module.buffers(recurse=False))
        or any(isinstance(child, (nn.ParameterList, nn.ParameterDict)) for child in module.children())
    )
    is_leaf = not any(True for _ in module.children())
    return owns_state or (is_leaf and isinstance(module, (nn.Conv2d, nn.Linear)))


def _layer_names(model: nn.Module) -> list[str]:
    names: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(row + ".") for row in names):
            continue
        if _is_layer(module):
            names.append(name)
    return names


def _profile_table(model: nn.Module, shape: tuple[int, ...], form: str) -> ProfileTable:
    names = _layer_names(model)
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []
    try:
        for name in names:

            def record(_module, _inputs, output, name=name):
                if isinstance(output, torch.Tensor):
                    shapes[name] = tuple(output.shape)

            handles.append(model.get_submodule(name).register_forward_hook(record))
        counter = _count_flops(model, shape)
    finally:
        for handle in handles:
            handle.remove()
    per_module = counter.get_flop_counts()
    root = type(model).__name__
    table = ProfileTable(form=form, input_size=shape)
    for name in names:
        module = model.get_submodule(name)
        flops = sum(per_module.get(f"{root}.{name}" if name else root, {}).values())
        table.layers.append(
            LayerProfile(
                name or root,
                type(module).__name__,
                shapes.get(name, ()),
                count_params(module),
                count_training_only_params(module),
                int(flops // 2),
            )
        )
    table.params = count_params(model)
    table.training_only_params = count_training_only_params(model)
    table.macs = counter.get_total_flops() // 2
    # Work done in a container's own forward (and parameters it owns) is kept in one row, so that
    # the rows always add up to the totals.
    rest = LayerProfile(
        "(other)",
        "",
        (),
        table.params - sum(r.params for r in table.layers),
        table.training_only_params - sum(r.training_only_params for r in table.layers),
        table.macs - sum(r.macs for r in table.layers),
    )
    if rest.params or rest.training_only_params or rest.macs:
        table.layers.append(rest)
    return table


def profile(model: nn.Module, input_size: Sequence[int]) -> ModelProfile:
    """Per-layer table (name, type, output shape, params, training-only params, MACs) with totals,
    for the model as given (training form) and for ``deploy(model)``. ``input_size`` is (C,H,W) or
    (B,C,H,W)."""
    from .deploy import deploy_form

    nn_module("model", model)
    shape = batch_shape(input_size)
    deployed = deploy_form(model)
    return ModelProfile(
        training=_profile_table(model, shape, "training"),
        deploy=_profile_table(deployed, shape, "deploy"),
    )
