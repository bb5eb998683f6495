"""Helpers shared by the operator tests."""

from __future__ import annotations

import copy

import torch
from torch import nn


def perturb(module: nn.Module, scale: float = 0.05, seed: int = 1) -> nn.Module:
    """Move every parameter and BatchNorm statistic away from its initial value, in place.

    Fresh layers hide folding bugs (BN at identity, PEDConv's attention uniform at 0.125), so
    parity tests run on perturbed layers.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * scale)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=generator) * 1.5 + 0.5)
    return module


def float64_reference(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eval output of a float64 copy of ``module``."""
    ref = copy.deepcopy(module).double().eval()
    with torch.no_grad():
        return ref(x.double())


def max_relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float((out.double() - ref).abs().max() / max(1.0, float(ref.abs().max())))
