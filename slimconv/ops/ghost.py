"""Ghost module: a few primary maps from a convolution, the rest as cheap depthwise "ghosts" of them.

Han, Wang, Tian, Guo, Xu and Xu, "GhostNet: More Features from Cheap Operations", CVPR 2020.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import boolean, positive_int
from ._base import SlimConv2d
from ._registry import register_op

__all__ = ["GhostConv2d", "GhostDeployed"]


@register_op("ghost")
class GhostConv2d(SlimConv2d):
    """Primary conv ``C -> m = ceil(N / s)``, cheap ``d x d`` depthwise conv ``m -> (s - 1) m``.

    ``primary`` has the layer's kernel, stride and padding; ``cheap`` is a ``d x d`` convolution with
    ``groups = m``, stride 1 and padding ``d // 2``, so primary map ``i`` makes ghosts
    ``i (s - 1) ... (i + 1)(s - 1) - 1``. Output = ``concat(primary maps, ghosts)[:, :N]`` plus the
    optional ``bias`` (``N``). The paper's module has BN (and ReLU) after each conv; as a drop-in
    for a bare ``nn.Conv2d`` this layer has none: the network's own BN after it normalises all
    ``N`` maps.

    Parameters: ``C k^2 m + (s - 1) m d^2`` (plus ``N`` with bias). When ``s`` does not divide ``N``
    the last few ghosts are dropped, as in the paper's code; their kernels still count.

    Shapes: input ``B x C x H x W``, primary maps ``B x m x H' x W'``, output ``B x N x H' x W'``.
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
        ratio: int = 2,
        dw_size: int = 3,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        boolean("bias", bias)
        if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 2:
            raise ValueError(f"ratio must be an integer >= 2, got {ratio!r}")
        if positive_int("dw_size", dw_size) % 2 == 0:
            raise ValueError(f"dw_size must be an odd integer >= 1, got {dw_size!r}")
        self.ratio, self.dw_size = ratio, dw_size
        self.primary_channels = m = math.ceil(self.out_channels / ratio)
        factory = dict(device=device, dtype=dtype)
        self.primary = nn.Conv2d(
            self.in_channels, m, self.kernel_size, self.stride, self.padding, bias=False, **factory
        )
        self.cheap = nn.Conv2d(m, (ratio - 1) * m, dw_size, 1, dw_size // 2, groups=m, bias=False, **factory)
        self.bias = nn.Parameter(torch.empty(self.out_channels, **factory)) if bias else None
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size**2)
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, ratio={self.ratio}, dw_size={self.dw_size}, bias={self.bias is not None}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        primary = self.primary(x)
        ghosts = self.cheap(primary)[:, : self.out_channels - self.primary_channels]
        out = torch.cat([primary, ghosts], 1)
        if self.bias is not None:
            out += self.bias[:, None, None]
        return out

    def fuse(self) -> nn.Module:
        """Same two convolutions, the ghosts' bias folded into the cheap one, dropped ghosts never
        computed. (The primary maps' bias cannot be folded into the primary conv: the cheap conv
        reads those maps, and its zero padding would turn the bias into a border pattern.)"""
        m, n, s = self.primary_channels, self.out_channels, self.ratio
        used = math.ceil((n - m) / (s - 1))  # primary maps that have a kept ghost
        factory = dict(device=self.primary.weight.device, dtype=self.primary.weight.dtype)
        has_bias = self.bias is not None
        primary = nn.Conv2d(self.in_channels, m, self.kernel_size, self.stride, self.padding, bias=False, **factory)
        cheap = None
        if used:
            cheap = nn.Conv2d(
                used, used * (s - 1), self.dw_size, 1, self.dw_size // 2, groups=used, bias=has_bias, **factory
            )
        with torch.no_grad():
            primary.weight.copy_(self.primary.weight)
            if cheap is not None:
                cheap.weight.copy_(self.cheap.weight[: used * (s - 1)])
                if has_bias:
                    cheap.bias.zero_()[: n - m].copy_(self.bias[m:])
        primary_bias = self.bias.detach()[:m].clone() if has_bias else None
        return GhostDeployed(primary, primary_bias, cheap, n)

    def _inherit_dense_weights(self, conv: nn.Conv2d) -> None:
        """Primary filters = the dense conv's first ``m`` filters (those outputs stay exact); each
        cheap kernel = the least-squares fit, in weight space, of its ghost's effective filter
        (primary filter convolved with the stride-dilated cheap kernel) to the dense filter that
        the ghost replaces. Bias copied."""
        m, n = self.primary_channels, self.out_channels
        dense = conv.weight.to(self.primary.weight.dtype)
        self.primary.weight.copy_(dense[:m])
        if n > m:
            sources = torch.arange(n - m, device=dense.device) // (self.ratio - 1)
            kernels = _fit_cheap_kernels(dense[:m], dense[m:], sources, self.stride, self.dw_size)
            self.cheap.weight[: n - m].copy_(kernels)
        if self.bias is not None:
            if conv.bias is not None:
                self.bias.copy_(conv.bias)
            else:
                self.bias.zero_()


def _fit_cheap_kernels(
    primary: torch.Tensor, targets: torch.Tensor, sources: torch.Tensor, stride: int, d: int
) -> torch.Tensor:
    """Least-squares ``d x d`` kernels ``c_j`` with ``primary[sources[j]] * dilate(c_j) ~ targets[j]``.

    ``primary``: ``m x C x k x k``, ``targets``: ``G x C x k x k``, ``sources``: ``G`` indices into
    ``primary``. A ghost reads primary map positions ``i + t - d//2``, that is input offsets
    ``stride (t - d//2) + u``: its effective filter is the primary filter shifted by ``stride t``
    on a canvas of side ``k + 2 stride (d//2)``. Solved through the normal equations (``d^2`` x
    ``d^2`` per ghost, pseudo-inverse for zero filters). Returns ``G x 1 x d x d``.
    """
    m, c, k, _ = primary.shape
    g, r = targets.shape[0], stride * (d // 2)
    w = primary.double()
    # A^T b: correlate each target (padded to the canvas) with its primary filter at the stride.
    canvas = F.pad(targets.double(), [r] * 4)
    rhs = F.conv2d(canvas.reshape(1, g * c, k + 2 * r, k + 2 * r), w[sources], stride=stride, groups=g)
    # A^T A: Gram[t, t'] = autocorrelation of the primary filter at lag stride (t - t').
    lag = max(k - 1, stride * (d - 1))
    padded = F.pad(w, [lag] * 4).reshape(1, m * c, k + 2 * lag, k + 2 * lag)
    autocorrelation = F.conv2d(padded, w, groups=m)[0]  # m x (2 lag + 1) x (2 lag + 1), lag 0 at centre
    taps = torch.arange(d, device=w.device)
    dy = (stride * (taps[:, None, None, None] - taps[None, None, :, None]) + lag).expand(d, d, d, d)
    dx = (stride * (taps[None, :, None, None] - taps[None, None, None, :]) + lag).expand(d, d, d, d)
    gram = autocorrelation[:, dy, dx].reshape(m, d * d, d * d)
    kernels = torch.linalg.pinv(gram[sources], hermitian=True) @ rhs.reshape(g, d * d, 1)
    return kernels.reshape(g, 1, d, d).to(primary.dtype)


class GhostDeployed(nn.Module):
    """Deploy form of :class:`GhostConv2d`: ``primary``, ``cheap`` over the primary maps that have
    kept ghosts (``None`` when no ghost is kept; the ghosts' bias folded in), one concatenation,
    then ``primary_bias`` (``m`` or ``None``) added to the primary maps.

    Input ``B x C x H x W``, output ``B x N x H' x W'``.
    """

    def __init__(
        self, primary: nn.Conv2d, primary_bias: torch.Tensor | None, cheap: nn.Conv2d | None, out_channels: int
    ) -> None:
        super().__init__()
        self.primary, self.cheap, self.out_channels = primary, cheap, out_channels
        self.primary_bias = nn.Parameter(primary_bias) if primary_bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        primary = self.primary(x)
        m = self.primary.out_channels  # channel counts from the layers, not the maps: no branch on a traced shape
        kept = primary if self.primary_bias is None else primary + self.primary_bias[:, None, None]
        if self.cheap is None:
            return kept
        used = self.cheap.in_channels
        ghosts = self.cheap(primary if used == m else primary[:, :used])[:, : self.out_channels - m]
        return torch.cat([kept, ghosts], 1)
