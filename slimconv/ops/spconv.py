"""SPConv: split the input channels into a representative and a redundant part.

Zhang et al., "Split to Be Slim: An Overlooked Redundancy in Vanilla Convolution", IJCAI 2020.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import boolean, divides, fraction, positive_int, same_padding_only
from ._base import SlimConv2d
from ._batch_norm import fold_batch_norm
from ._graph import capturing_graph
from ._registry import register_op
from ._spconv_deploy import SPConv2dDeploy, average_pool

__all__ = ["SPConv2d", "SPConv2dDeploy", "SPConvBranches"]


@dataclass(frozen=True)
class SPConvBranches:
    """The intermediate results of one SPConv forward pass (``N`` outputs, ``H' x W'`` map).

    ``representative`` is ``U3`` and ``redundant`` is ``U1``, both ``B x N x H' x W'``
    (``redundant`` is ``None`` when ``alpha = 1``: there is no redundant part). ``beta`` and
    ``gamma`` are the ``B x N`` fusion weights (``beta + gamma = 1``; ``1`` and ``0`` when
    ``alpha = 1``) and ``output`` is ``beta * U3 + gamma * U1``, ``B x N x H' x W'``.
    """

    representative: torch.Tensor
    redundant: torch.Tensor | None
    beta: torch.Tensor
    gamma: torch.Tensor
    output: torch.Tensor


def _normalise(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """``bn(x)``, except for a training batch with one value per channel (batch 1, ``1 x 1`` maps).

    Such a batch has no variance to normalise by; it is normalised with the running statistics,
    which it leaves unchanged, instead of raising. The BNs stay plain ``nn.BatchNorm2d`` (leaf
    modules of ``torch.fx``); a graph captured in training mode cannot branch on the batch's
    size, so there such a batch meets ``nn.BatchNorm2d``'s own error.
    """
    if bn.training and not capturing_graph() and x.numel() == x.shape[1]:
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return bn(x)


@register_op("spconv")
class SPConv2d(SlimConv2d):
    """SPConv (Zhang et al., IJCAI 2020): a cheap replacement for a ``k x k`` convolution.

    Input ``x``: ``B x C x H x W``; output ``B x N x H' x W'`` with ``H' = ceil(H / s)``.
    The first ``Cr = int(C * alpha)`` input channels (``x_r``) are representative, the others
    (``x_u``) redundant:

    - ``U3 = BN_a(GWC(x_r) + PWC(pool(x_r)))``: GWC is a ``k x k`` conv ``Cr -> N`` with
      ``gwc_groups`` groups and stride ``s``, PWC a ``1 x 1`` conv ``Cr -> N``;
    - ``U1 = BN_b(Conv1x1(pool(x_u)))``, ``(C - Cr) -> N`` with bias;
    - ``[beta, gamma] = softmax([GAP(U3), GAP(U1)])`` per sample and output channel,
      ``y = beta * U3 + gamma * U1``.

    ``pool`` is an ``s x s`` average pool with ``ceil_mode`` (identity at ``s = 1``), one pass
    over the whole input shared by both branches. With ``alpha = 1`` there is no redundant part,
    the softmax runs over a single branch and the fusion is ``y = U3`` (``beta = 1``).
    Parameters ``(1 + 4.5 alpha) C N + 5 N`` for ``k = 3`` and two groups, with or without bias.

    Args:
        alpha: share of representative input channels, in ``(0, 1]``.
        gwc_groups: groups of the ``k x k`` conv; must divide ``Cr`` and ``out_channels``.
        bias: accepted for the ``nn.Conv2d`` signature; adds no parameter. A per-channel bias after
            the fusion is redundant by construction: shifting both BNs' ``bias`` by ``b`` shifts
            ``U3`` and ``U1`` by ``b``, leaves ``GAP(U3) - GAP(U1)`` (hence ``beta``) unchanged and,
            since ``beta + gamma = 1``, shifts ``y`` by exactly ``b``. So the BN shifts already carry
            it (as the paper's module has it). A state dict saved with the former separate ``bias``
            loads with that bias folded into both BN shifts: the same function.
    """

    starts_untrained = True  # see _inherit_dense_weights

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
        gwc_groups: int = 2,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        same_padding_only("spconv", self.kernel_size, self.padding)
        boolean("bias", bias)
        self.alpha = fraction("alpha", alpha)
        self.gwc_groups = positive_int("gwc_groups", gwc_groups)
        cr = int(self.in_channels * self.alpha)
        if cr == 0:
            raise ValueError(
                f"alpha={alpha} is too small for in_channels={in_channels}: "
                f"int(in_channels * alpha) = 0 representative channels; use alpha >= 1 / in_channels"
            )
        divides("gwc_groups", self.gwc_groups, "the representative channels int(in_channels * alpha)", cr)
        divides("gwc_groups", self.gwc_groups, "out_channels", self.out_channels)
        self._cr = cr

        n, k = self.out_channels, self.kernel_size
        factory = dict(device=device, dtype=dtype)
        self.gwc = nn.Conv2d(cr, n, k, self.stride, self.padding, groups=self.gwc_groups, bias=False, **factory)
        self.pwc = nn.Conv2d(cr, n, 1, bias=False, **factory)
        self.bn_representative = nn.BatchNorm2d(n, **factory)
        self.conv_redundant: nn.Conv2d | None = None
        self.bn_redundant: nn.BatchNorm2d | None = None
        if cr < self.in_channels:
            self.conv_redundant = nn.Conv2d(self.in_channels - cr, n, 1, bias=True, **factory)
            self.bn_redundant = nn.BatchNorm2d(n, **factory)
        self.register_parameter("bias", None)  # see ``bias`` above: carried by the BN shifts

    @property
    def representative_channels(self) -> range:
        """Indices of the representative input channels: the first ``int(C * alpha)``."""
        return range(self._cr)

    @property
    def redundant_channels(self) -> range:
        """Indices of the redundant input channels (empty when ``alpha = 1``)."""
        return range(self._cr, self.in_channels)

    def branches(self, x: torch.Tensor) -> SPConvBranches:
        """Both branch outputs, the fusion weights and the output for ``x`` (``B x C x H x W``)."""
        cr = self._cr
        pooled = average_pool(x, self.stride)
        u3 = _normalise(self.bn_representative, self.gwc(x[:, :cr]) + self.pwc(pooled[:, :cr]))
        if self.conv_redundant is None:
            u1 = None
            beta = u3.new_ones(u3.shape[:2])
            gamma = u3.new_zeros(u3.shape[:2])
            y = u3
        else:
            u1 = _normalise(self.bn_redundant, self.conv_redundant(pooled[:, cr:]))
            weights = torch.softmax(torch.stack((u3.mean((2, 3)), u1.mean((2, 3)))), dim=0)
            beta, gamma = weights[0], weights[1]  # indexed, not unpacked: a torch.fx proxy cannot be iterated
            y = u3 * beta[:, :, None, None] + u1 * gamma[:, :, None, None]
        return SPConvBranches(representative=u3, redundant=u1, beta=beta, gamma=gamma, output=y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``B x C x H x W`` -> ``B x N x H' x W'``."""
        return self.branches(x).output

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}, gwc_groups={self.gwc_groups}"

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Load a state dict of the former layout too, whose separate output ``bias`` (``N``) is
        folded into both BN shifts (exactly the same function, see the class docstring)."""
        bias = state_dict.pop(prefix + "bias", None)
        if bias is not None:
            for bn in ("bn_representative", "bn_redundant"):
                key = f"{prefix}{bn}.bias"
                if key in state_dict:
                    state_dict[key] = state_dict[key] + bias
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    @torch.no_grad()
    def fuse(self) -> nn.Module:
        """The eval-mode function with both BNs folded: an ``SPConv2dDeploy`` (see there).

        With ``k = 1`` and ``s = 1`` the GWC sees what PWC sees and is PWC's block diagonal, so
        the two merge into one dense 1x1 conv; if moreover ``alpha = 1``, the whole layer is that
        conv and an ``nn.Conv2d`` is returned.
        """
        scale_r, shift_r = fold_batch_norm(self.bn_representative)
        gwc_weight = self.gwc.weight * scale_r[:, None, None, None]
        pwc_weight = self.pwc.weight.flatten(1) * scale_r[:, None]
        representative_bias = shift_r
        groups = self.gwc_groups
        redundant_weight = redundant_bias = None
        if self.conv_redundant is not None:
            scale_u, shift_u = fold_batch_norm(self.bn_redundant)
            redundant_weight = self.conv_redundant.weight.flatten(1) * scale_u[:, None]
            redundant_bias = self.conv_redundant.bias * scale_u + shift_u
        if self.kernel_size == 1 and self.stride == 1:
            merged = pwc_weight + torch.block_diag(*gwc_weight.flatten(1).chunk(groups))
            gwc_weight, pwc_weight, groups = merged[:, :, None, None], None, 1
            if redundant_weight is None:
                conv = nn.Conv2d(self._cr, self.out_channels, 1, device=merged.device, dtype=merged.dtype)
                conv.weight.copy_(gwc_weight)
                conv.bias.copy_(representative_bias)
                return conv
        return SPConv2dDeploy(
            self.stride,
            self.padding,
            groups,
            gwc_weight=gwc_weight,
            representative_bias=representative_bias,
            pwc_weight=pwc_weight,
            redundant_weight=redundant_weight,
            redundant_bias=redundant_bias,
        )

    def _inherit_dense_weights(self, conv: nn.Conv2d) -> None:
        """Inherit nothing from the dense conv (deliberately).

        No part of SPConv equals a part of the dense layer: the GWC sees only the first ``Cr``
        channels within its groups, the 1x1 convs see pooled inputs, and the BNs and the
        GAP-softmax fusion rescale both branches per sample. Copying slices of the dense
        kernel (e.g. its centre tap into the 1x1 convs) would not reproduce the dense output and
        has no support in the paper, which trains SPConv networks from scratch.
        """
