"""What FLGC (Wang et al., "Fully Learnable Group Convolution", CVPR 2019) learned: which input
channels and filters share a group, the group sizes, the block-diagonal mask once channels and
filters are sorted by group, the dead filters (their group has no input channel: they output only
their bias) and unused channels (their group has no filter: nothing reads them), how the grouping
changed between two checkpoints, and the theoretical against the deployed cost.

Costs per output position: dense ``k^2 N C``; grouped (what the extracted groups need)
``k^2 sum_g n_g m_g`` with ``n_g`` / ``m_g`` the channels / filters of group ``g``; deployed: what
the layer's deploy form runs (``deployed_macs_per_position()``). Parameters exclude the bias.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from slimconv._validate import indices, positive_int
from slimconv.ops.flgc import FLGConv2d


@dataclass(frozen=True)
class GroupStructure:
    """A grouping of ``C`` input channels and ``N`` filters into ``G`` groups.

    ``channel_groups``: ``C`` long; ``filter_groups``: ``N`` long. ``channel_assignment``: ``C x G``
    and ``filter_assignment``: ``N x G`` one-hot. ``mask``: ``N x C``, 1 where filter and channel share
    a group. ``channel_order`` / ``filter_order``: stable sorts by group; ``permuted_mask`` =
    ``mask[filter_order][:, channel_order]`` (block diagonal). ``channels_per_group`` /
    ``filters_per_group``: ``G`` long. ``dead_filters`` / ``unused_channels``: long indices.
    """

    channel_groups: torch.Tensor
    filter_groups: torch.Tensor
    num_groups: int
    channel_assignment: torch.Tensor
    filter_assignment: torch.Tensor
    mask: torch.Tensor
    channel_order: torch.Tensor
    filter_order: torch.Tensor
    permuted_mask: torch.Tensor
    channels_per_group: torch.Tensor
    filters_per_group: torch.Tensor
    dead_filters: torch.Tensor
    unused_channels: torch.Tensor


@dataclass(frozen=True)
class FLGCInspection:
    """A FLGC layer's grouping and its costs (per output position, see the module docstring)."""

    groups: GroupStructure
    kernel_size: int
    dense_macs_per_position: int
    grouped_macs_per_position: int
    deployed_macs_per_position: int
    dense_params: int
    grouped_params: int


@dataclass(frozen=True)
class FLGCSwitches:
    """How a FLGC layer's grouping changed from checkpoint ``before`` to ``after``.

    ``channel_switched``: ``C`` bool; ``filter_switched``: ``N`` bool. ``channel_transitions`` /
    ``filter_transitions``: ``G x G`` long counts, row = group before, column = group after.
    """

    channel_switched: torch.Tensor
    filter_switched: torch.Tensor
    channel_transitions: torch.Tensor
    filter_transitions: torch.Tensor

    @property
    def switched_channel_share(self) -> float:
        return float(self.channel_switched.double().mean())

    @property
    def switched_filter_share(self) -> float:
        return float(self.filter_switched.double().mean())


def group_structure(channel_groups: torch.Tensor, filter_groups: torch.Tensor, num_groups: int) -> GroupStructure:
    """Everything about a grouping from its labels: ``C`` channel and ``N`` filter labels in ``[0, G)``."""
    positive_int("num_groups", num_groups)
    channels = indices("channel_groups", channel_groups, num_groups)
    filters = indices("filter_groups", filter_groups, num_groups)
    channel_assignment = F.one_hot(channels, num_groups).float()
    filter_assignment = F.one_hot(filters, num_groups).float()
    mask = filter_assignment @ channel_assignment.T
    channel_order = torch.sort(channels, stable=True).indices
    filter_order = torch.sort(filters, stable=True).indices
    channels_per_group = torch.bincount(channels, minlength=num_groups)
    filters_per_group = torch.bincount(filters, minlength=num_groups)
    return GroupStructure(
        channel_groups=channels,
        filter_groups=filters,
        num_groups=num_groups,
        channel_assignment=channel_assignment,
        filter_assignment=filter_assignment,
        mask=mask,
        channel_order=channel_order,
        filter_order=filter_order,
        permuted_mask=mask[filter_order][:, channel_order],
        channels_per_group=channels_per_group,
        filters_per_group=filters_per_group,
        dead_filters=(channels_per_group[filters] == 0).nonzero()[:, 0],
        unused_channels=(filters_per_group[channels] == 0).nonzero()[:, 0],
    )


def _require_flgc(layer: nn.Module, name: str = "layer") -> FLGConv2d:
    if not isinstance(layer, FLGConv2d):
        raise ValueError(f"{name} must be an FLGConv2d layer, got {type(layer).__name__}")
    return layer


def inspect_flgc(layer: FLGConv2d) -> FLGCInspection:
    """The grouping of a FLGC ``layer`` and its dense, grouped and deployed costs."""
    layer = _require_flgc(layer)
    structure = group_structure(layer.channel_groups, layer.filter_groups, layer.groups)
    taps = layer.kernel_size**2
    grouped = taps * int((structure.channels_per_group * structure.filters_per_group).sum())
    dense = taps * layer.in_channels * layer.out_channels
    return FLGCInspection(
        groups=structure,
        kernel_size=layer.kernel_size,
        dense_macs_per_position=dense,
        grouped_macs_per_position=grouped,
        deployed_macs_per_position=int(layer.deployed_macs_per_position()),
        dense_params=dense,
        grouped_params=grouped,
    )


def _as_layer(checkpoint: FLGConv2d | Mapping[str, torch.Tensor], template: FLGConv2d | None, name: str) -> FLGConv2d:
    if isinstance(checkpoint, nn.Module):
        return _require_flgc(checkpoint, name)
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{name} must be an FLGConv2d or its state dict, got {type(checkpoint).__name__}")
    if template is None:
        raise ValueError(f"{name} is a state dict: pass template=, an FLGConv2d of the same shape to load it into")
    layer = copy.deepcopy(_require_flgc(template, "template"))
    try:
        layer.load_state_dict(dict(checkpoint))
    except RuntimeError as error:
        raise ValueError(f"{name} does not fit the template layer: {error}") from None
    return layer


def _transitions(before: torch.Tensor, after: torch.Tensor, num_groups: int) -> torch.Tensor:
    return torch.bincount(before * num_groups + after, minlength=num_groups * num_groups).view(num_groups, num_groups)


def flgc_switches(
    before: FLGConv2d | Mapping[str, torch.Tensor],
    after: FLGConv2d | Mapping[str, torch.Tensor],
    *,
    template: FLGConv2d | None = None,
) -> FLGCSwitches:
    """Channels and filters that changed group between two checkpoints of one FLGC layer.

    Each checkpoint is an ``FLGConv2d`` or its state dict (then ``template``, a layer of the same
    shape, receives it in a copy; the template itself is not changed).
    """
    first, second = _as_layer(before, template, "before"), _as_layer(after, template, "after")
    shape_first = (first.in_channels, first.out_channels, first.groups)
    shape_second = (second.in_channels, second.out_channels, second.groups)
    if shape_first != shape_second:
        raise ValueError(f"checkpoints differ in (in_channels, out_channels, groups): {shape_first} vs {shape_second}")
    groups = first.groups
    channels_before, channels_after = first.channel_groups.cpu(), second.channel_groups.cpu()
    filters_before, filters_after = first.filter_groups.cpu(), second.filter_groups.cpu()
    return FLGCSwitches(
        channel_switched=channels_before != channels_after,
        filter_switched=filters_before != filters_after,
        channel_transitions=_transitions(channels_before, channels_after, groups),
        filter_transitions=_transitions(filters_before, filters_after, groups),
    )
