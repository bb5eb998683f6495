"""Fold an eval-mode BatchNorm into the deployed layer that feeds it (SPConv's host-block BN).

A block such as torchvision's ``Bottleneck`` runs ``bn2(conv2(x))``. Once ``conv2`` is a deploy
form that can absorb a per-channel affine map (it defines ``absorb_output_affine(scale, shift)``),
the BN is folded into it and replaced by ``nn.Identity``: one pass over the activations less.

The data flow comes from a ``torch.fx`` trace of the model, so only BNs whose single input is
such a layer, called once and feeding nothing else, are folded. A model that cannot be traced
(data-dependent control flow) keeps its BNs: the fold is an optimisation, never a requirement.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import fx, nn

from .ops._batch_norm import fold_batch_norm


class _LayerTracer(fx.Tracer):
    """Keeps slimconv's layers whole: they are what absorbs the BN (and some do not trace)."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return type(module).__module__.startswith("slimconv.ops") or super().is_leaf_module(module, qualified_name)


def _foldable(bn: nn.Module) -> bool:
    # Without running statistics an eval BN normalises by the batch: not a fixed affine map.
    return isinstance(bn, nn.BatchNorm2d) and bn.running_mean is not None and bn.running_var is not None


def fold_host_batch_norms(model: nn.Module) -> int:
    """Fold every eval BatchNorm fed only by an absorbing layer into it; returns how many were folded."""
    try:
        graph = _LayerTracer().trace(model)
    except Exception:  # noqa: BLE001 - tracing runs the model's own code, which may raise anything
        return 0
    modules = dict(model.named_modules())
    calls = Counter(node.target for node in graph.nodes if node.op == "call_module")
    folded = 0
    for node in graph.nodes:
        if node.op != "call_module" or not _foldable(modules[node.target]):
            continue
        if len(node.args) != 1 or node.kwargs or calls[node.target] != 1:
            continue
        producer = node.args[0]
        if not isinstance(producer, fx.Node) or producer.op != "call_module":
            continue
        layer = modules[producer.target]
        absorb = getattr(layer, "absorb_output_affine", None)
        if not callable(absorb) or calls[producer.target] != 1 or len(producer.users) != 1:
            continue
        bn = modules[node.target]
        with torch.no_grad():
            absorb(*fold_batch_norm(bn))
        model.set_submodule(node.target, nn.Identity())
        folded += 1
    return folded
