"""FLGC: Fully Learnable Group Convolution (Wang et al., CVPR 2019, arXiv:1904.00346).

A group convolution whose grouping of input channels and of filters is learned: each input channel
and each filter carries assignment logits over ``G`` groups; the forward pass keeps only the
weights whose filter and channel share a group (hard argmax assignments), and a straight-through
estimator lets the task loss move the assignments. The deploy form runs only those weights.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import boolean, choice, nn_module, positive_int
from ._base import SlimConv2d
from ._grouped_deploy import GroupLayout, GroupwiseConv2d, PaddedGroupConv2d, choose_form
from ._registry import register_op

__all__ = ["FLGConv2d", "GroupSizes", "GroupwiseConv2d", "PaddedGroupConv2d", "flgc_balance_loss"]

STE_MODES = ("identity", "masked")
DEPLOY_FORMS = ("auto", "groupwise", "padded", "dense")


class GroupSizes(NamedTuple):
    """Per group: ``channels`` = n_g input channels and ``filters`` = m_g filters (LongTensors G)."""

    channels: Tensor
    filters: Tensor


def _hard_assignment(logits: Tensor, ste: str) -> Tensor:
    """Rows of ``logits`` (``R x G``) as one-hot argmax rows, with a straight-through gradient.

    The value is exactly the one-hot matrix (``p - p.detach()`` is exactly zero). The gradient
    reaches ``p = softmax(logits)`` unchanged for every entry (``identity``, the paper) or only at
    each row's selected entry (``masked``, the public reimplementation), then flows through the
    softmax Jacobian.
    """
    hard = F.one_hot(logits.argmax(dim=1), logits.shape[1]).to(logits.dtype)
    probs = logits.softmax(dim=1)
    straight = probs - probs.detach()
    return hard + (straight if ste == "identity" else hard * straight)


@register_op("flgc")
class FLGConv2d(SlimConv2d):
    """Fully learnable group convolution (FLGC, CVPR 2019).

    Parameters: ``weight`` (``N x C x k x k``), optional ``bias`` (``N``), and the training-only
    assignment logits ``channel_logits`` (``C x G``) and ``filter_logits`` (``N x G``), N(0, 1).
    Forward (train and eval alike): ``S = onehot(argmax Sh)``, ``T = onehot(argmax Th)``,
    ``M = T S^T`` (``N x C``), ``y = conv2d(x, W * M)``; ``x``: ``B x C x H x W`` ->
    ``B x N x H' x W'``. Backward: straight-through estimator ``ste`` (``"identity"`` or
    ``"masked"``). ``groups`` may exceed the channel count: some groups are then empty.
    ``fuse()`` returns an exact layer that runs only the ``k^2 sum_g n_g m_g`` kept weights.
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
        groups: int = 8,
        ste: str = "identity",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        boolean("bias", bias)
        self.groups = positive_int("groups", groups)
        self.ste = choice("ste", ste, STE_MODES)
        factory = dict(device=device, dtype=dtype)
        k = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, k, k, **factory))
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self.channel_logits = nn.Parameter(torch.empty(in_channels, self.groups, **factory))
        self.filter_logits = nn.Parameter(torch.empty(out_channels, self.groups, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.Conv2d``'s initialisation for weight and bias; N(0, 1) assignment logits."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * self.kernel_size**2)
            nn.init.uniform_(self.bias, -bound, bound)
        nn.init.normal_(self.channel_logits)
        nn.init.normal_(self.filter_logits)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, bias={self.bias is not None}, groups={self.groups}, ste={self.ste!r}"

    # -- grouping -------------------------------------------------------------------------
    @property
    def channel_groups(self) -> Tensor:
        """Group label of every input channel (LongTensor ``C``): the row argmax of the logits."""
        return self.channel_logits.detach().argmax(dim=1)

    @property
    def filter_groups(self) -> Tensor:
        """Group label of every filter (LongTensor ``N``)."""
        return self.filter_logits.detach().argmax(dim=1)

    def group_mask(self) -> Tensor:
        """``N x C`` float 0/1 mask: 1 where filter and input channel share a group."""
        return (self.filter_groups[:, None] == self.channel_groups[None, :]).to(self.weight.dtype)

    def group_sizes(self) -> GroupSizes:
        """Number of input channels ``n_g`` and of filters ``m_g`` in each of the ``G`` groups."""
        return GroupSizes(
            torch.bincount(self.channel_groups, minlength=self.groups),
            torch.bincount(self.filter_groups, minlength=self.groups),
        )

    def deployed_macs_per_position(self) -> int:
        """Multiply-accumulates per output position of the deploy form: ``k^2 sum_g n_g m_g``."""
        n, m = self.group_sizes()
        return self.kernel_size**2 * int((n * m).sum())

    def training_only_parameters(self) -> list[nn.Parameter]:
        return [self.channel_logits, self.filter_logits]

    # -- computation ----------------------------------------------------------------------
    def _mask(self) -> Tensor:
        """``M = T S^T`` (``N x C``) carrying the straight-through gradient to the logits."""
        channels = _hard_assignment(self.channel_logits, self.ste)
        filters = _hard_assignment(self.filter_logits, self.ste)
        return filters @ channels.T

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight * self._mask()[:, :, None, None]
        return F.conv2d(x, weight, self.bias, self.stride, self.padding)

    def fuse(self, form: str = "auto") -> nn.Module:
        """An exact layer running only the kept weights, in their original filter order.

        ``form``: ``"groupwise"`` (one small conv per live group, ``GroupwiseConv2d``),
        ``"padded"`` (groups padded to the largest, one grouped conv, ``PaddedGroupConv2d``),
        ``"dense"`` (an ``nn.Conv2d`` with the masked weight), or ``"auto"``: the cheapest by the
        cost model of ``choose_form``. The groupwise and padded forms hold exactly
        ``k^2 sum_g n_g m_g`` weights (+ ``N`` biases).
        """
        choice("form", form, DEPLOY_FORMS)
        layout = GroupLayout.from_labels(self.channel_groups, self.filter_groups, self.groups)
        if form == "auto":
            form = choose_form(layout, self.in_channels, self.out_channels, self.kernel_size, self.padding)
        if form == "padded" and not layout.channels:
            form = "groupwise"  # no live group to pad: every filter outputs its bias
        weight = self.weight.detach()
        bias = None if self.bias is None else self.bias.detach()
        geometry = (self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding)
        if form == "dense":
            conv = nn.Conv2d(*geometry, bias=bias is not None, device=weight.device, dtype=weight.dtype)
            with torch.no_grad():
                conv.weight.copy_(weight * self.group_mask()[:, :, None, None])
                if bias is not None:
                    conv.bias.copy_(bias)
            return conv
        deploy = GroupwiseConv2d if form == "groupwise" else PaddedGroupConv2d
        return deploy(*geometry, layout, weight, bias)

    def _inherit_dense_weights(self, conv: nn.Conv2d) -> None:
        """Copy the dense weight and bias; the learned mask then selects within them."""
        self.weight.copy_(conv.weight)
        if self.bias is not None and conv.bias is not None:
            self.bias.copy_(conv.bias)


def flgc_balance_loss(model: nn.Module) -> Tensor:
    """Regulariser pushing the soft group sizes of every FLGC layer toward ``C/G`` and ``N/G``.

    With soft assignments ``softmax(Sh)`` (``C x G``) and ``softmax(Th)`` (``N x G``), the soft
    sizes are their column sums ``n~_g`` and ``m~_g``; a layer contributes
    ``mean_g ((n~_g - C/G) / (C/G))^2 + mean_g ((m~_g - N/G) / (N/G))^2``, zero when balanced.
    Returns the sum over the FLGC layers of ``model`` (a 0-dim tensor; 0 when there are none).
    Differentiable with respect to the assignment logits; balanced groups make the deploy form cheap.
    """
    terms = []
    for layer in nn_module("model", model).modules():
        if isinstance(layer, FLGConv2d):
            for logits in (layer.channel_logits, layer.filter_logits):
                target = logits.shape[0] / layer.groups
                soft_sizes = logits.softmax(dim=1).sum(dim=0)
                terms.append(((soft_sizes - target) / target).square().mean())
    if not terms:
        parameter = next(model.parameters(), None)
        return torch.zeros((), device=None if parameter is None else parameter.device)
    return torch.stack(terms).sum()
