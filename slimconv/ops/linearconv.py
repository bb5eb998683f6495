"""LinearConv: secondary filters as learned linear combinations of primary filters.

Kahatapitiya and Rodrigo, "Exploiting the Redundancy in Convolutional Filters for Parameter
Reduction", WACV 2021. A layer with ``N`` filters learns ``P = N // 2`` primary filters ``V``
(``P x C/g x k x k``) and a coefficient matrix ``A`` (``S x P``, ``S = N - P``); its weight is
``W = cat(V, A @ V)`` (``N x C/g x k x k``, primaries first) and it runs one ordinary convolution.
The deploy form is that convolution with ``W`` computed once: a plain ``nn.Conv2d``.

Variants of ``A`` (option ``variant``):

- ``"full"``: ``A`` is a free ``S x P`` matrix. Params ``P C/g k^2 + S P (+ N)``.
- ``"lowrank"``: ``A = Col @ Row`` with ``Col`` ``S x r``, ``Row`` ``r x P`` (option ``rank``;
  the paper's "LR" models use 10). Params ``P C/g k^2 + r (S + P) (+ N)``.
- ``"rankratio"``: as ``"lowrank"`` with ``r = int(P * ratio)``.
- ``"sparse"``: ``A * mask`` with ``mask = 1[|A| > tau]`` a buffer (not counted as a parameter).
  The trainer calls :func:`linearconv_update_sparsity_masks` every
  :data:`SPARSITY_UPDATE_EVERY` (500) optimiser steps and adds :func:`linearconv_sparsity_loss`
  (an L1 penalty on ``A``) to the task loss. The layer itself never counts steps: a forward pass
  is not an optimiser step (gradient accumulation, train-mode forwards for analysis), so only the
  trainer knows when 500 steps have passed.

The paper's correlation regulariser, :func:`linearconv_correlation_loss`, pushes the primary
filters of every layer towards being uncorrelated; the paper adds ``0.01 x`` it to the task loss
on every 10th step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import boolean, choice, divides, fraction, nn_module, positive_int
from ._base import SlimConv2d
from ._registry import register_op

__all__ = [
    "SPARSITY_UPDATE_EVERY",
    "LinearConv2d",
    "linearconv_correlation_loss",
    "linearconv_sparsity_loss",
    "linearconv_update_sparsity_masks",
]

VARIANTS = ("full", "lowrank", "rankratio", "sparse")
SPARSITY_UPDATE_EVERY = 500
"""Optimiser steps between two sparsity-mask updates in the paper's sparse variant."""

_DEFAULT_RANK = 10  # the paper's "LR10" models
_DEFAULT_RATIO = 0.5
_DEFAULT_SPARSITY = 0.5
_COEFFICIENT_BOUND = 0.1  # public code: A and bias ~ uniform(-0.1, 0.1)
_CORRELATION_EPS = 1e-8


@register_op("linearconv")
class LinearConv2d(SlimConv2d):
    """LinearConv layer (WACV 2021): ``y = conv2d(x, cat(V, A @ V), bias)``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding: as ``nn.Conv2d`` (square,
            dilation 1). ``out_channels`` must be >= 2 (``P = out_channels // 2`` >= 1).
        bias: add a learned bias per output channel (default ``True``, as ``nn.Conv2d``).
        variant: ``"full"`` (default), ``"lowrank"``, ``"rankratio"`` or ``"sparse"``.
        rank: ``lowrank`` only; ``1 <= rank <= min(S, P)``. Default ``min(10, P)``: the paper's
            10, lowered only for layers too small for it (an explicit rank is never lowered).
        ratio: ``rankratio`` only; in ``(0, 1]``, ``r = int(P * ratio)`` must be >= 1.
            Default 0.5.
        sparsity: ``sparse`` only; target fraction of zero coefficients in ``[0, 1)``.
            Default 0.5.
        groups: as ``nn.Conv2d``; filters are ``C/groups x k x k`` and are combined across all
            ``N`` filters alike (the paper converts depthwise convs too).

    An option that does not belong to ``variant`` raises ``ValueError``.

    Shapes: input ``B x C x H x W``; output ``B x N x H' x W'`` as ``nn.Conv2d``.
    """

    supports_groups = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        bias: bool = True,
        *,
        variant: str = "full",
        rank: int | None = None,
        ratio: float | None = None,
        sparsity: float | None = None,
        groups: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        self.variant = choice("variant", variant, VARIANTS)
        self.groups = positive_int("groups", groups)
        divides("groups", self.groups, "in_channels", self.in_channels)
        divides("groups", self.groups, "out_channels", self.out_channels)
        boolean("bias", bias)
        if self.out_channels < 2:
            raise ValueError(
                f"linearconv: out_channels must be >= 2 (P = out_channels // 2 primary filters), "
                f"got {self.out_channels}"
            )
        for name, value, owner in (("rank", rank, "lowrank"), ("ratio", ratio, "rankratio"),
                                   ("sparsity", sparsity, "sparse")):
            if value is not None and self.variant != owner:
                raise ValueError(f"{name} is an option of variant={owner!r} only, not {self.variant!r}")

        self.num_primary = self.out_channels // 2
        self.num_secondary = self.out_channels - self.num_primary
        p, s = self.num_primary, self.num_secondary
        factory = dict(device=device, dtype=dtype)
        k = self.kernel_size

        self.primary_weight = nn.Parameter(torch.empty(p, self.in_channels // self.groups, k, k, **factory))
        self.rank: int | None = None
        self.ratio: float | None = None
        self.sparsity: float | None = None
        if self.variant in ("full", "sparse"):
            self.coefficient_matrix = nn.Parameter(torch.empty(s, p, **factory))
        else:
            if self.variant == "lowrank":
                self.rank = self._check_rank(rank)
            else:
                self.ratio = fraction("ratio", _DEFAULT_RATIO if ratio is None else ratio)
                self.rank = int(p * self.ratio)
                if self.rank < 1:
                    raise ValueError(
                        f"ratio={self.ratio} gives rank int({p} * ratio) = 0; ratio must be >= {1 / p:.4g} "
                        f"for out_channels={self.out_channels}"
                    )
            self.coefficient_col = nn.Parameter(torch.empty(s, self.rank, **factory))
            self.coefficient_row = nn.Parameter(torch.empty(self.rank, p, **factory))
        if self.variant == "sparse":
            target = _DEFAULT_SPARSITY if sparsity is None else sparsity
            if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 <= target < 1:
                raise ValueError(f"sparsity must be a number in [0, 1), got {target!r}")
            self.sparsity = float(target)
            # Mask and threshold are state (saved, moved with .to()), never trained.
            self.register_buffer("mask", torch.ones(s, p, dtype=torch.bool, device=device))
            self.register_buffer("tau", torch.zeros((), **factory))
        bias_parameter = nn.Parameter(torch.empty(self.out_channels, **factory)) if bias else None
        self.register_parameter("bias", bias_parameter)
        self.reset_parameters()

    def _check_rank(self, rank: int | None) -> int:
        limit = min(self.num_primary, self.num_secondary)
        if rank is None:
            return min(_DEFAULT_RANK, limit)
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= limit:
            raise ValueError(
                f"rank must be an integer in [1, min(S, P)] = [1, {limit}] for out_channels="
                f"{self.out_channels}, got {rank!r}"
            )
        return rank

    def reset_parameters(self) -> None:
        """Initialise as the public code: Xavier-uniform ``V``, uniform(-0.1, 0.1) ``A`` and bias.

        Low-rank factors are each uniform(-b, b) with ``b`` chosen so that the entries of
        ``Col @ Row`` have the variance of uniform(-0.1, 0.1) (Var = r b^4 / 9 = 0.01 / 3).
        """
        nn.init.xavier_uniform_(self.primary_weight)
        if self.rank is None:
            nn.init.uniform_(self.coefficient_matrix, -_COEFFICIENT_BOUND, _COEFFICIENT_BOUND)
        else:
            bound = (3 * _COEFFICIENT_BOUND**2 / self.rank) ** 0.25
            nn.init.uniform_(self.coefficient_col, -bound, bound)
            nn.init.uniform_(self.coefficient_row, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -_COEFFICIENT_BOUND, _COEFFICIENT_BOUND)

    # -- the weight ------------------------------------------------------------------------
    @property
    def coefficients(self) -> torch.Tensor:
        """Effective coefficient matrix ``A`` (``S x P``): after the low-rank product or the mask."""
        if self.variant == "full":
            return self.coefficient_matrix
        if self.variant == "sparse":
            return self.coefficient_matrix * self.mask
        return self.coefficient_col @ self.coefficient_row

    def composed_weight(self) -> torch.Tensor:
        """Full weight ``W = cat(V, A @ flatten(V))`` reshaped to ``N x C/g x k x k``."""
        v, k = self.primary_weight, self.kernel_size
        # shape from the geometry, not from v.shape: a torch.fx proxy's shape cannot be unpacked
        secondary = (self.coefficients @ v.flatten(1)).view(self.num_secondary, self.in_channels // self.groups, k, k)
        return torch.cat([v, secondary])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C x H x W`` -> ``B x N x H' x W'``: one convolution with the composed weight."""
        return F.conv2d(x, self.composed_weight(), self.bias, self.stride, self.padding, 1, self.groups)

    def fuse(self) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` holding the composed weight: zero inference overhead.

        Note that it stores ``N C/g k^2`` weights, more than this layer's parameters: the saving
        of LinearConv is in training/storage, not in the deployed convolution.
        """
        weight = self.primary_weight
        conv = nn.Conv2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
            groups=self.groups, bias=self.bias is not None, device=weight.device, dtype=weight.dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(self.composed_weight())
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv

    # -- sparse variant ----------------------------------------------------------------------
    @torch.no_grad()
    def update_sparsity_mask(self, step_size: float = 0.5) -> float:
        """Move ``tau`` toward the target and recompute ``mask = 1[|A| > tau]`` (sparse only).

        The controller: ``tau += step_size * (t* - tau)`` where ``t*`` is the threshold that would
        zero exactly the target fraction of the current ``|A|``. With the L1 penalty shrinking
        ``A`` between updates, ``tau`` follows the target without jumping to it (``step_size=1``
        jumps). Call every :data:`SPARSITY_UPDATE_EVERY` optimiser steps. Returns the sparsity
        reached (fraction of masked coefficients).
        """
        if self.variant != "sparse":
            raise ValueError(f"update_sparsity_mask needs variant='sparse', this layer is {self.variant!r}")
        fraction("step_size", step_size)
        magnitude = self.coefficient_matrix.abs()
        self.tau.add_(step_size * (_threshold(magnitude, self.sparsity) - self.tau))
        self.mask.copy_(magnitude > self.tau)
        return self.mask_sparsity()

    def mask_sparsity(self) -> float:
        """Fraction of coefficients the mask currently zeroes (sparse only)."""
        if self.variant != "sparse":
            raise ValueError(f"mask_sparsity needs variant='sparse', this layer is {self.variant!r}")
        return 1.0 - float(self.mask.float().mean())

    # -- model surgery -----------------------------------------------------------------------
    def _inherit_dense_weights(self, conv: nn.Conv2d) -> None:
        """Primaries = the first ``P`` dense filters; ``A`` = least-squares fit of the other ``S``.

        Solves ``min_A ||A V - W_S||`` in float64 (SVD-based, minimum norm when ``V`` is rank
        deficient, e.g. depthwise filters with ``k^2 < P``). ``lowrank``/``rankratio`` keep the
        rank-``r`` truncated SVD of that solution (split ``sqrt(sigma)`` to each factor);
        ``sparse`` keeps the solution and masks it to the target sparsity at once.
        """
        p = self.num_primary
        dense = conv.weight.detach()
        primary = dense[:p].flatten(1).to("cpu", torch.float64)
        secondary = dense[p:].flatten(1).to("cpu", torch.float64)
        # A V = W_S  <=>  V^T A^T = W_S^T
        solution = torch.linalg.lstsq(primary.T, secondary.T, driver="gelsd").solution.T
        self.primary_weight.copy_(dense[:p])
        if self.rank is None:
            self.coefficient_matrix.copy_(solution)
        else:
            u, sigma, vh = torch.linalg.svd(solution, full_matrices=False)
            root = sigma[: self.rank].sqrt()
            self.coefficient_col.copy_(u[:, : self.rank] * root)
            self.coefficient_row.copy_(root[:, None] * vh[: self.rank])
        if self.variant == "sparse":
            self.update_sparsity_mask(step_size=1.0)
        if self.bias is not None:  # from_conv gives the layer a bias exactly when conv has one
            self.bias.copy_(conv.bias)

    def extra_repr(self) -> str:
        options = f", variant={self.variant!r}"
        if self.rank is not None:
            options += f", rank={self.rank}"
        if self.ratio is not None:
            options += f", ratio={self.ratio}"
        if self.sparsity is not None:
            options += f", sparsity={self.sparsity}"
        if self.groups != 1:
            options += f", groups={self.groups}"
        return f"{super().extra_repr()}{options}, bias={self.bias is not None}"


def _threshold(magnitude: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Smallest ``tau`` with ``mean(magnitude <= tau) >= sparsity`` (0 for sparsity 0)."""
    count = round(sparsity * magnitude.numel())
    if count == 0:
        return magnitude.new_zeros(())
    return magnitude.flatten().kthvalue(count).values


def _linearconv_layers(model: nn.Module) -> list[LinearConv2d]:
    return [m for m in nn_module("model", model).modules() if isinstance(m, LinearConv2d)]


def _zero(model: nn.Module) -> torch.Tensor:
    """A scalar 0 on the model's device (CPU for a model without parameters)."""
    first = next(model.parameters(), None)
    return torch.zeros((), device=first.device if first is not None else None)


def _correlation_penalty(primary: torch.Tensor) -> torch.Tensor:
    """``sum |R - I|`` for ``R`` the Pearson correlation of the ``P`` rows of ``flatten(V)``.

    A zero-variance row (constant filter) gets correlation 0 with everything (norm clamped to
    eps) instead of NaN.
    """
    rows = primary.flatten(1)
    centred = rows - rows.mean(dim=1, keepdim=True)
    unit = centred / centred.norm(dim=1, keepdim=True).clamp_min(_CORRELATION_EPS)
    correlation = (unit @ unit.T).clamp(-1.0, 1.0)
    identity = torch.eye(correlation.shape[0], device=correlation.device, dtype=correlation.dtype)
    return (correlation - identity).abs().sum()


def linearconv_correlation_loss(model: nn.Module) -> torch.Tensor:
    """The paper's correlation regulariser, summed over every :class:`LinearConv2d` in ``model``.

    Per layer: ``R`` = Pearson correlation matrix (``P x P``, clamped to [-1, 1]) of the rows of
    ``flatten(V)``; loss ``sum |R - I|``. Differentiable w.r.t. the primary filters. Returns a
    scalar tensor on the model's device; 0 when the model has no LinearConv layer. The paper adds
    ``0.01 x`` this to the task loss on every 10th step.
    """
    layers = _linearconv_layers(model)
    total = _zero(model)
    for layer in layers:
        total = total + _correlation_penalty(layer.primary_weight)
    return total


def linearconv_sparsity_loss(model: nn.Module) -> torch.Tensor:
    """L1 penalty ``sum |A|`` over the raw coefficients of every sparse :class:`LinearConv2d`.

    Applied to the unmasked ``A`` so that masked coefficients keep shrinking too. Returns a
    scalar tensor on the model's device; 0 when the model has no sparse LinearConv layer.
    """
    layers = _linearconv_layers(model)
    total = _zero(model)
    for layer in layers:
        if layer.variant == "sparse":
            total = total + layer.coefficient_matrix.abs().sum()
    return total


def linearconv_update_sparsity_masks(model: nn.Module, step_size: float = 0.5) -> int:
    """Call :meth:`LinearConv2d.update_sparsity_mask` on every sparse layer; return how many.

    The trainer calls it every :data:`SPARSITY_UPDATE_EVERY` optimiser steps.
    """
    fraction("step_size", step_size)  # checked even when the model has no sparse layer
    layers = [layer for layer in _linearconv_layers(model) if layer.variant == "sparse"]
    for layer in layers:
        layer.update_sparsity_mask(step_size)
    return len(layers)
