"""An eval-mode BatchNorm as the per-channel affine map it computes, for folding into neighbours."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["fold_batch_norm"]


def fold_batch_norm(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode ``bn(z) = scale * z + shift`` per channel; returns ``(scale, shift)``, each ``N``."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:  # affine=False: weight 1, bias 0
        scale = bn.weight * scale
    shift = -bn.running_mean * scale
    return scale, shift if bn.bias is None else shift + bn.bias
