"""Deploy form of SPConv: both BNs folded, both branches written in place, one pooling pass."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._graph import capturing_graph

__all__ = ["SPConv2dDeploy", "accumulate_pointwise", "average_pool"]


def average_pool(x: torch.Tensor, stride: int) -> torch.Tensor:
    """``s x s`` average pool with stride ``s`` (identity for ``s = 1``): ``B x C x ceil(H/s) x ceil(W/s)``.

    ``ceil_mode`` keeps the last, partial window of odd sizes (it averages the elements it has),
    so the result has the size of a ``k x k`` conv with stride ``s`` and padding ``k // 2``.
    """
    if stride == 1:
        return x
    if capturing_graph():  # the slice sums below depend on the input's size and layout
        return F.avg_pool2d(x, stride, stride, ceil_mode=True)
    b, c, h, w = x.shape
    if h % stride or w % stride or not x.is_contiguous():
        return F.avg_pool2d(x, stride, stride, ceil_mode=True)
    # avg_pool2d's NCHW kernel is scalar (4x slower here); sums of row and column slices vectorise.
    rows = x.view(b, c, h // stride, stride * w)
    total = rows[..., :w] + rows[..., w : 2 * w]
    for i in range(2, stride):
        total += rows[..., i * w : (i + 1) * w]
    columns = total.view(b, c, h // stride, w // stride, stride)
    pooled = columns[..., 0] + columns[..., 1]
    for i in range(2, stride):
        pooled += columns[..., i]
    return pooled.mul_(1.0 / (stride * stride))


def accumulate_pointwise(out: torch.Tensor, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out + conv1x1(x, weight)`` as one batched GEMM, written into ``out`` when grad is off.

    ``out``: ``B x N x H x W``, ``weight``: ``N x K``, ``x``: ``B x K x H x W`` (NCHW or
    channels-last views alike; the weight is broadcast over the batch without a copy).
    """
    b, n = out.shape[:2]
    matrix = out.view(b, n, -1)
    # out= rather than baddbmm_: FlopCounterMode counts aten.baddbmm but not its in-place twin.
    # Autograd refuses out=, so with grad enabled the sum goes to a new tensor instead.
    if torch.is_grad_enabled():
        return torch.baddbmm(matrix, weight.expand(b, -1, -1), x.flatten(2)).view(out.shape)
    torch.baddbmm(matrix, weight.expand(b, -1, -1), x.flatten(2), out=matrix)
    return out


class SPConv2dDeploy(nn.Module):
    """Inference form of SPConv (Zhang et al., IJCAI 2020) with both BNs folded into the convs.

    Input ``B x C x H x W``, output ``B x N x H' x W'`` (in the input's memory layout when grad
    is off). With ``x_r`` the first ``Cr`` channels and ``P = pool(x)``, pooled once for both
    branches:

    1. ``U3 = GWC(x_r) + b_r``: the ``k x k`` grouped conv with BN_a folded in;
    2. ``U3 += W_r P_r``: PWC as a batched GEMM written into ``U3`` (CPU conv kernels are 2x
       slower for a 1x1 conv here);
    3. ``U1 = W_u P_u + b_u``: the redundant 1x1 conv with BN_b folded in, same GEMM form;
    4. ``gamma = sigmoid(GAP(U1) - GAP(U3))`` (the two-way softmax) and ``y = lerp(U3, U1,
       gamma) = beta U3 + gamma U1``, written into ``U3``.

    The bias after the fusion is folded into ``b_r`` and ``b_u``: ``beta + gamma = 1``, and
    shifting both branches leaves ``GAP(U3) - GAP(U1)`` unchanged. Folding ``beta``/``gamma``
    into per-sample 1x1 weights (one GEMM, no ``U1``) was measured slower than this.
    Multiply-adds: the GWC (``aten.convolution``) plus the 1x1 GEMMs (``aten.baddbmm``),
    together exactly the training form's ``(1 + 4.5 alpha) C N`` per output position.

    ``pwc_weight`` is ``None`` when ``k = 1, s = 1`` (PWC merged into the then dense 1x1
    "GWC"); ``redundant_weight`` / ``redundant_bias`` are ``None`` when ``alpha = 1`` (no
    redundant part: ``y = U3``).
    """

    def __init__(
        self,
        stride: int,
        padding: int,
        gwc_groups: int,
        *,
        gwc_weight: torch.Tensor,
        representative_bias: torch.Tensor,
        pwc_weight: torch.Tensor | None,
        redundant_weight: torch.Tensor | None,
        redundant_bias: torch.Tensor | None,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.padding = padding
        self.gwc_groups = gwc_groups
        self.representative_channels = gwc_weight.shape[1] * gwc_groups
        self.out_channels = gwc_weight.shape[0]

        def parameter(tensor: torch.Tensor | None) -> nn.Parameter | None:
            return None if tensor is None else nn.Parameter(tensor.detach().clone())

        self.gwc_weight = parameter(gwc_weight)  # N x Cr/groups x k x k
        self.representative_bias = parameter(representative_bias)  # N
        self.pwc_weight = parameter(pwc_weight)  # N x Cr
        self.redundant_weight = parameter(redundant_weight)  # N x (C - Cr)
        self.redundant_bias = parameter(redundant_bias)  # N
        # 1 / scale of an absorbed output affine map, per channel (see absorb_output_affine)
        self.register_buffer("gate_scale", None)

    def extra_repr(self) -> str:
        redundant = 0 if self.redundant_weight is None else self.redundant_weight.shape[1]
        return (
            f"representative_channels={self.representative_channels}, redundant_channels={redundant}, "
            f"out_channels={self.out_channels}, kernel_size={self.gwc_weight.shape[-1]}, stride={self.stride}, "
            f"gwc_groups={self.gwc_groups}"
        )

    @torch.no_grad()
    def absorb_output_affine(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        """Fold ``z = scale * y + shift`` (per output channel: an eval BatchNorm after this layer) in.

        Both branches become ``scale U + shift``; ``beta + gamma = 1`` keeps ``z = beta U3' +
        gamma U1'``. The gate sees ``GAP(U1') - GAP(U3') = scale (GAP(U1) - GAP(U3))``, so it is
        multiplied by ``1 / scale`` first; where ``scale = 0`` both branches equal ``shift`` and
        any gate gives ``z``, so the factor there is 0.
        """
        self.gwc_weight.mul_(scale[:, None, None, None])
        self.representative_bias.mul_(scale).add_(shift)
        if self.pwc_weight is not None:
            self.pwc_weight.mul_(scale[:, None])
        if self.redundant_weight is None:
            return
        self.redundant_weight.mul_(scale[:, None])
        self.redundant_bias.mul_(scale).add_(shift)
        inverse = torch.where(scale != 0, 1 / scale, torch.zeros_like(scale))
        self.gate_scale = inverse if self.gate_scale is None else self.gate_scale * inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C x H x W`` -> ``B x N x H' x W'``."""
        if capturing_graph():
            return self._graph_forward(x)
        cr = self.representative_channels
        x_r = x if cr == x.shape[1] else x[:, :cr]
        u3 = F.conv2d(x_r, self.gwc_weight, self.representative_bias, self.stride, self.padding, 1, self.gwc_groups)
        pooled = average_pool(x, self.stride)
        if self.pwc_weight is not None:
            u3 = accumulate_pointwise(u3, self.pwc_weight, pooled[:, :cr])
        if self.redundant_weight is None:
            return u3
        u1 = torch.empty_like(u3).copy_(self.redundant_bias[:, None, None])  # in U3's memory layout
        u1 = accumulate_pointwise(u1, self.redundant_weight, pooled[:, cr:])
        difference = u1.mean((2, 3), keepdim=True) - u3.mean((2, 3), keepdim=True)
        if self.gate_scale is not None:
            difference = difference * self.gate_scale[:, None, None]
        gamma = torch.sigmoid(difference)
        return u3.lerp_(u1, gamma)

    def _graph_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same function for graph captures (see ``_graph``): the 1x1 paths as convolutions,
        nothing written in place (onnxruntime cannot infer the shapes of the in-place GEMM into
        a view of ``U1``)."""
        cr = self.representative_channels
        u3 = F.conv2d(x[:, :cr], self.gwc_weight, self.representative_bias, self.stride, self.padding, 1,
                      self.gwc_groups)
        pooled = average_pool(x, self.stride)
        if self.pwc_weight is not None:
            u3 = u3 + F.conv2d(pooled[:, :cr], self.pwc_weight[:, :, None, None])
        if self.redundant_weight is None:
            return u3
        u1 = F.conv2d(pooled[:, cr:], self.redundant_weight[:, :, None, None], self.redundant_bias)
        difference = u1.mean((2, 3), keepdim=True) - u3.mean((2, 3), keepdim=True)
        if self.gate_scale is not None:
            difference = difference * self.gate_scale[:, None, None]
        return torch.lerp(u3, u1, torch.sigmoid(difference))
