"""The operator papers' extra training losses, switched on by the layers a model has.

- LinearConv (WACV 2021): ``linearconv_corr_weight`` (0.01) x the filter-correlation regulariser on
  every ``linearconv_corr_every``-th (10th) optimiser step; sparse variant: ``linearconv_l1`` x the
  L1 penalty on the coefficients every step and the masks updated every 500 steps.
- FLGC (CVPR 2019): ``flgc_balance`` x the group-size balance loss (0: off, the paper's setting).
- PEDConv (BMVC 2021): ``pedconv_infomax_weight`` (0.001) x the info-max loss of the layers built
  with ``infomax=True``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..ops.flgc import FLGConv2d, flgc_balance_loss
from ..ops.linearconv import (
    SPARSITY_UPDATE_EVERY,
    LinearConv2d,
    linearconv_correlation_loss,
    linearconv_sparsity_loss,
    linearconv_update_sparsity_masks,
)
from ..ops.pedconv import PEDConv2d, pedconv_auxiliary_loss
from .config import TrainConfig


class OperatorLosses:
    """``losses(model, step)``: the weighted sum of the active regularisers (``None`` when none applies)."""

    def __init__(self, model: nn.Module, config: TrainConfig) -> None:
        modules = list(model.modules())
        linear = [m for m in modules if isinstance(m, LinearConv2d)]
        self.config = config
        self.correlation = bool(linear) and config.linearconv_corr_weight > 0
        self.sparse = any(m.variant == "sparse" for m in linear)
        self.balance = config.flgc_balance > 0
        self.infomax = config.pedconv_infomax_weight > 0 and any(
            isinstance(m, PEDConv2d) and m.infomax for m in modules
        )
        if self.balance and not any(isinstance(m, FLGConv2d) for m in modules):
            raise ValueError("flgc_balance needs a model with FLGC layers (--op flgc)")

    def describe(self) -> list[str]:
        """The active regularisers, for the run's log."""
        c = self.config
        every = c.linearconv_corr_every
        return [text for active, text in (
            (self.correlation, f"{c.linearconv_corr_weight} x LinearConv correlation every {every} steps"),
            (self.sparse, f"{c.linearconv_l1} x LinearConv L1, masks updated every {SPARSITY_UPDATE_EVERY} steps"),
            (self.balance, f"{c.flgc_balance} x FLGC balance"),
            (self.infomax, f"{c.pedconv_infomax_weight} x PEDConv info-max"),
        ) if active]

    def __call__(self, model: nn.Module, step: int) -> torch.Tensor | None:
        c = self.config
        terms = []
        if self.correlation and step % c.linearconv_corr_every == 0:
            terms.append(c.linearconv_corr_weight * linearconv_correlation_loss(model))
        if self.sparse and c.linearconv_l1 > 0:
            terms.append(c.linearconv_l1 * linearconv_sparsity_loss(model))
        if self.balance:
            terms.append(c.flgc_balance * flgc_balance_loss(model))
        if self.infomax:
            terms.append(c.pedconv_infomax_weight * pedconv_auxiliary_loss(model))
        return torch.stack(terms).sum() if terms else None

    def after_step(self, model: nn.Module, step: int) -> None:
        """Work between optimiser steps: the sparse LinearConv masks every ``SPARSITY_UPDATE_EVERY`` steps."""
        if self.sparse and (step + 1) % SPARSITY_UPDATE_EVERY == 0:
            linearconv_update_sparsity_masks(model)
