"""HetConv: heterogeneous kernels, k x k on every P-th input channel and 1 x 1 on the others.

Singh, Verma, Rai and Namboodiri, "HetConv: Heterogeneous Kernel-Based Convolutions for Deep CNNs",
CVPR 2019.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import boolean, divides, positive_int, same_padding_only
from ._base import SlimConv2d
from ._registry import register_op

__all__ = ["HetConv2d", "HetConvDeployed"]


@register_op("hetconv")
class HetConv2d(SlimConv2d):
    """Each filter has ``C/P`` kernels of size ``k x k`` and ``C - C/P`` kernels of size ``1 x 1``.

    Filter ``n`` uses a ``k x k`` kernel on input channel ``c`` iff ``(c - n) mod P == 0``: the
    ``k x k`` positions sit every ``P`` channels and shift by one channel from one filter to the
    next, as in the paper's figure. A ``1 x 1`` kernel is the centre tap of a ``k x k`` window, so
    the layer equals a dense ``k x k`` convolution whose weight is zero off that pattern.

    Parameters (only the unmasked taps exist, ``N (C/P k^2 + C - C/P)`` weights in all):

    - ``weight``: ``N x C/P x k x k``, filter ``n``'s ``k x k`` kernels on channels
      ``n mod P, n mod P + P, ...`` (increasing);
    - ``weight_pointwise``: ``N x (C - C/P)``, filter ``n``'s ``1 x 1`` kernels on its other
      channels (increasing); ``None`` when ``P = 1`` (a dense convolution);
    - ``bias``: ``N`` or ``None``.

    The buffer ``mask`` (``N x C`` bool, True where the kernel is ``k x k``) is fixed, not learned.

    Forward (training and deploy alike, no Python loop over channels): the cheap exact form. Sorting
    the input channels by ``c mod P`` and the filters by ``n mod P`` (both a channel shuffle, which
    keeps the memory format) turns the ``k x k`` part into a ``P``-group convolution; the ``1 x 1``
    part is one ``1 x 1`` convolution over all channels with zeros where the ``k x k`` kernels sit;
    the sum is shuffled back into filter order. That zero block costs ``N C / P`` extra MACs per
    output position (a ``1 / (P k^2)`` share of a dense conv), but one dense ``1 x 1`` GEMM measured
    faster than the exact-count alternative, a ``P``-group pointwise convolution on ``P - 1``
    gathered copies of the input; the masked dense convolution costs the full dense amount.

    Constraints: ``part`` divides ``in_channels`` and ``out_channels`` (so every group has as
    many filters; every multiple of 8 works with the default 4); odd ``kernel_size`` with
    padding ``k // 2`` (the ``1 x 1`` taps are the window centres). No BN or activation inside.

    Shapes: input ``B x C x H x W``, output ``B x N x H' x W'`` as ``nn.Conv2d``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        bias: bool = False,
        *,
        part: int = 4,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        boolean("bias", bias)
        same_padding_only("hetconv", self.kernel_size, self.padding)
        self.part = positive_int("part", part)
        divides("part", self.part, "in_channels", self.in_channels)
        divides("part", self.part, "out_channels", self.out_channels)
        c, n, k, p = self.in_channels, self.out_channels, self.kernel_size, self.part
        factory = dict(device=device, dtype=dtype)

        # Fixed by the geometry, hence not saved with the weights.
        channel, filt = torch.arange(c, device=device), torch.arange(n, device=device)
        self.register_buffer("mask", (channel[None, :] - filt[:, None]) % p == 0, persistent=False)

        self.weight = nn.Parameter(torch.empty(n, c // p, k, k, **factory))
        self.weight_pointwise = nn.Parameter(torch.empty(n, c - c // p, **factory)) if p > 1 else None
        self.bias = nn.Parameter(torch.empty(n, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.Conv2d``'s default scale, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, on the real fan-in."""
        c, k, p = self.in_channels, self.kernel_size, self.part
        bound = 1.0 / math.sqrt(c // p * k * k + c - c // p)
        for tensor in (self.weight, self.weight_pointwise, self.bias):
            if tensor is not None:
                nn.init.uniform_(tensor, -bound, bound)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, part={self.part}, bias={self.bias is not None}"

    def dense_weight(self) -> torch.Tensor:
        """The equivalent dense ``N x C x k x k`` weight (zero off the pattern), for analysis and tests."""
        n, c, k = self.out_channels, self.in_channels, self.kernel_size
        dense = self.weight.new_zeros(n, c, k, k)
        dense[self.mask] = self.weight.reshape(-1, k, k)
        if self.weight_pointwise is not None:
            dense[..., k // 2, k // 2][~self.mask] = self.weight_pointwise.reshape(-1)
        return dense

    def _cheap_weights(self) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Weights of the cheap form, filters sorted by ``n mod P``.

        Returns the grouped ``N x C/P x k x k`` weight, the pointwise ``N x C x 1 x 1`` weight (zero
        on each filter's own ``k x k`` channels) or ``None``, and the bias or ``None``.
        """
        p, pointwise = self.part, None
        if self.weight_pointwise is not None:
            pointwise = self.weight_pointwise.new_zeros(self.out_channels, self.in_channels)
            pointwise = _by_residue(pointwise.masked_scatter(~self.mask, self.weight_pointwise), p)[..., None, None]
        bias = _by_residue(self.bias, p) if self.bias is not None else None
        return _by_residue(self.weight, p), pointwise, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _hetconv_forward(x, *self._cheap_weights(), self.part, self.stride, self.padding)

    def fuse(self) -> nn.Module:
        """The cheap form with its weights laid out once; a plain ``nn.Conv2d`` where ``P = 1`` or ``k = 1``."""
        with torch.no_grad():
            if self.part == 1 or self.kernel_size == 1:
                # Every kernel is k x k (P = 1) or every kernel is 1 x 1 (k = 1): one dense conv.
                conv = nn.Conv2d(
                    self.in_channels,
                    self.out_channels,
                    self.kernel_size,
                    self.stride,
                    self.padding,
                    bias=self.bias is not None,
                    device=self.weight.device,
                    dtype=self.weight.dtype,
                )
                conv.weight.copy_(self.dense_weight())
                if self.bias is not None:
                    conv.bias.copy_(self.bias)
                return conv
            grouped, pointwise, bias = (t.clone() if t is not None else None for t in self._cheap_weights())
        return HetConvDeployed(grouped, pointwise, bias, self.stride, self.padding)

    def _inherit_dense_weights(self, conv: nn.Conv2d) -> None:
        """Keep the dense conv's taps that HetConv has: its ``k x k`` kernels on the pattern and the
        centre tap elsewhere (the nearest HetConv in weight space, all other taps dropped)."""
        k = self.kernel_size
        dense = conv.weight.to(self.weight.dtype)
        self.weight.copy_(dense[self.mask].view_as(self.weight))
        if self.weight_pointwise is not None:
            self.weight_pointwise.copy_(dense[..., k // 2, k // 2][~self.mask].view_as(self.weight_pointwise))
        if self.bias is not None:
            if conv.bias is not None:
                self.bias.copy_(conv.bias)
            else:
                self.bias.zero_()


def _by_residue(t: torch.Tensor, part: int) -> torch.Tensor:
    """Reorder dim 0 by index mod ``part`` (stable): row ``i P + r`` goes to ``r (len / P) + i``."""
    return t.unflatten(0, (-1, part)).transpose(0, 1).flatten(0, 1)


def _hetconv_forward(
    x: torch.Tensor,
    grouped: torch.Tensor,
    pointwise: torch.Tensor | None,
    bias: torch.Tensor | None,
    part: int,
    stride: int,
    padding: int,
) -> torch.Tensor:
    """``P``-group ``k x k`` conv on the residue-sorted channels + dense ``1 x 1`` conv (filters
    sorted likewise), shuffled back into filter order."""
    channels = x.shape[1]
    out = F.conv2d(F.channel_shuffle(x, channels // part), grouped, None, stride, padding, groups=part)
    if pointwise is not None:
        out += F.conv2d(x, pointwise, bias, stride)
    elif bias is not None:
        out += bias[:, None, None]
    return F.channel_shuffle(out, part)


class HetConvDeployed(nn.Module):
    """Deploy form of :class:`HetConv2d`: the cheap exact form with its weights laid out once.

    ``grouped``: ``N x C/P x k x k`` and ``pointwise``: ``N x C x 1 x 1`` (filters sorted by
    ``n mod P``), ``bias``: ``N`` sorted likewise. Input ``B x C x H x W``, output ``B x N x H' x W'``.
    MACs per output position: ``N C / P k^2 + N C``.
    """

    def __init__(
        self,
        grouped: torch.Tensor,
        pointwise: torch.Tensor,
        bias: torch.Tensor | None,
        stride: int,
        padding: int,
    ) -> None:
        super().__init__()
        self.part = pointwise.shape[1] // grouped.shape[1]
        self.stride, self.padding = stride, padding
        self.grouped = nn.Parameter(grouped)
        self.pointwise = nn.Parameter(pointwise)
        self.bias = nn.Parameter(bias) if bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _hetconv_forward(x, self.grouped, self.pointwise, self.bias, self.part, self.stride, self.padding)
