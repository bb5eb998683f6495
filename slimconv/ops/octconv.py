"""Octave convolution: a share of the channels lives at half resolution (low frequency).

Chen, Fan, Xu, Yan, Kalantidis, Rohrbach, Yan and Feng, "Drop an Octave: Reducing Spatial
Redundancy in Convolutional Neural Networks with Octave Convolution", ICCV 2019.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import boolean, same_padding_only
from ._base import SlimConv2d
from ._graph import capturing_graph
from ._registry import register_op

__all__ = ["OctConv2d", "OctConvDeployed"]


@register_op("octconv")
class OctConv2d(SlimConv2d):
    """Drop-in octave convolution on one tensor, with the weight of a plain convolution.

    Channels: the first ``C_h = C - floor(alpha C)`` input channels are high frequency, the last
    ``C_l = floor(alpha C)`` low frequency; outputs likewise (``N_h = N - floor(alpha N)`` first).
    ``weight`` (``N x C x k x k``) splits into the four paths by those blocks:
    ``[:N_h, :C_h]`` H->H, ``[:N_h, C_h:]`` L->H, ``[N_h:, :C_h]`` H->L, ``[N_h:, C_h:]`` L->L.

    With ``P_r`` = 2D average pooling by ``r`` (ceil mode, mean over the valid pixels, so odd sizes
    work), the output grid has the size of ``nn.Conv2d``'s, ``ceil(H / s)``, and the low grid half
    that (rounded up); every convolution has stride 1 and padding ``k // 2``:

    - ``Y_H = conv(P_s(x_h), W_HH) + L->H``; ``Y_L = conv(P_2s(x), [W_HL | W_LL])`` (H->L and L->L
      read the same pooled input, so they are one convolution);
    - L->H: ``up(conv(P_2s(x_l), W_LH))`` (nearest x2, cropped to the output grid) for odd ``s``;
      for even ``s`` the low channels at the output grid are ``P_s(x_l)``, so, as in the paper's
      stride-2 code, no upsampling: ``conv(P_s(x_l), W_LH)``, and H->H with L->H is one
      convolution ``conv(P_s(x), [W_HH | W_LH])``;
    - output ``concat(Y_H, up(Y_L))``, the optional ``bias`` (``N``) added to both.

    Stride is pooling before the convolutions, as in the paper; so ``alpha = 0`` is exactly a plain
    convolution at stride 1 and ``avg_pool(s)`` followed by it at stride ``s > 1``.
    MACs at stride 1 and even sizes: ``1 - 3 alpha / 2 + 3 alpha^2 / 4`` of the plain conv's
    (pooling and nearest upsampling do no multiplications). No BN or activation inside.

    Shapes: input ``B x C x H x W``, output ``B x N x H' x W'`` as ``nn.Conv2d`` (odd ``k``, padding
    ``k // 2``).
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
        alpha: float = 0.5,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        boolean("bias", bias)
        same_padding_only("octconv", self.kernel_size, self.padding)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 1:
            raise ValueError(f"alpha must be a number in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)
        # floor, tolerant of products like 0.29 * 100 = 28.999999999999996
        self.low_in = math.floor(self.alpha * self.in_channels + 1e-9)
        self.low_out = math.floor(self.alpha * self.out_channels + 1e-9)
        factory = dict(device=device, dtype=dtype)
        k = self.kernel_size
        self.weight = nn.Parameter(torch.empty(self.out_channels, self.in_channels, k, k, **factory))
        self.bias = nn.Parameter(torch.empty(self.out_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.Conv2d``'s default initialisation (the layer has the same weight)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size**2)
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}, bias={self.bias is not None}"

    def _path_weights(self) -> dict[str, torch.Tensor | None]:
        """The weights (views of ``weight``) and biases of the three convolutions of the forward."""
        high_out, high_in = self.out_channels - self.low_out, self.in_channels - self.low_in
        w, b = self.weight, self.bias
        separate_lh = self.low_in > 0 and self.stride % 2 == 1
        return dict(
            high_w=w[:high_out, :high_in] if separate_lh else w[:high_out],
            high_b=b[:high_out] if b is not None else None,
            lh_w=w[:high_out, high_in:] if separate_lh else None,
            low_w=w[high_out:] if self.low_out else None,
            low_b=b[high_out:] if b is not None and self.low_out else None,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _octave_forward(x, **self._path_weights(), stride=self.stride, padding=self.padding)

    def fuse(self) -> nn.Module:
        """The same convolutions with contiguous weights; a plain ``nn.Conv2d`` when no
        low-frequency channel remains at stride 1."""
        with torch.no_grad():
            weights = {name: t.clone() if t is not None else None for name, t in self._path_weights().items()}
        if weights["lh_w"] is None and weights["low_w"] is None and self.stride == 1:
            conv = nn.Conv2d(
                self.in_channels,
                self.out_channels,
                self.kernel_size,
                1,
                self.padding,
                bias=self.bias is not None,
                device=self.weight.device,
                dtype=self.weight.dtype,
            )
            with torch.no_grad():
                conv.weight.copy_(weights["high_w"])
                if self.bias is not None:
                    conv.bias.copy_(weights["high_b"])
            return conv
        return OctConvDeployed(**weights, stride=self.stride, padding=self.padding)

    def _inherit_dense_weights(self, conv: nn.Conv2d) -> None:
        """The dense weight splits exactly into the four paths: copy it (and the bias)."""
        self.weight.copy_(conv.weight)
        if self.bias is not None:
            if conv.bias is not None:
                self.bias.copy_(conv.bias)
            else:
                self.bias.zero_()


def _pool(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.avg_pool2d(x, size, ceil_mode=True, count_include_pad=False) if size > 1 else x


def _octave_forward(
    x: torch.Tensor,
    high_w: torch.Tensor,
    high_b: torch.Tensor | None,
    lh_w: torch.Tensor | None,
    low_w: torch.Tensor | None,
    low_b: torch.Tensor | None,
    stride: int,
    padding: int,
) -> torch.Tensor:
    """Octave convolution from its three convolutions (see :class:`OctConv2d`).

    ``high_w``: ``N_h x C_h x k x k`` (or ``N_h x C``, L->H folded in), ``lh_w``: ``N_h x C_l x k x k``
    or ``None`` (folded or absent), ``low_w``: ``N_l x C x k x k`` or ``None`` (no low output).

    On the CPU an NCHW input is processed in channels_last and the output given back in NCHW:
    average pooling and nearest upsampling measured several times faster in that layout, which
    more than pays for the two layout copies. A captured graph (see ``_graph``) keeps the input's
    layout: the layout test is a branch on the input that a graph cannot hold.
    """
    if lh_w is None and low_w is None and stride == 1:  # alpha too small to leave a low channel
        return F.conv2d(x, high_w, high_b, 1, padding)
    if not capturing_graph() and x.device.type == "cpu" and not x.is_contiguous(memory_format=torch.channels_last):
        out = _octave_forward(
            x.contiguous(memory_format=torch.channels_last), high_w, high_b, lh_w, low_w, low_b, stride, padding
        )
        return out.contiguous()
    high_in = high_w.shape[1]
    high = F.conv2d(_pool(x if lh_w is None else x[:, :high_in], stride), high_w, high_b, 1, padding)
    if lh_w is None and low_w is None:
        return high
    pooled = _pool(x, 2 * stride)
    low = []
    if lh_w is not None:
        low.append(F.conv2d(pooled[:, high_in:], lh_w, None, 1, padding))
    if low_w is not None:
        low.append(F.conv2d(pooled, low_w, low_b, 1, padding))
    # Nearest upsampling to the output size: index i // 2, since the low grid is ceil(H' / 2).
    up = F.interpolate(torch.cat(low, 1) if len(low) > 1 else low[0], size=high.shape[-2:], mode="nearest")
    if lh_w is None:
        return torch.cat([high, up], 1)
    high_out = high.shape[1]
    if capturing_graph():  # a graph holds no in-place write into a slice
        return torch.cat([up[:, :high_out] + high, up[:, high_out:]], 1)
    up[:, :high_out] += high
    return up


class OctConvDeployed(nn.Module):
    """Deploy form of :class:`OctConv2d`: its three convolutions with weights laid out once.

    Input ``B x C x H x W``, output ``B x N x H' x W'``.
    """

    def __init__(
        self,
        high_w: torch.Tensor,
        high_b: torch.Tensor | None,
        lh_w: torch.Tensor | None,
        low_w: torch.Tensor | None,
        low_b: torch.Tensor | None,
        stride: int,
        padding: int,
    ) -> None:
        super().__init__()
        self.stride, self.padding = stride, padding
        for name, tensor in dict(high_w=high_w, high_b=high_b, lh_w=lh_w, low_w=low_w, low_b=low_b).items():
            self.register_parameter(name, nn.Parameter(tensor) if tensor is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _octave_forward(
            x, self.high_w, self.high_b, self.lh_w, self.low_w, self.low_b, self.stride, self.padding
        )
