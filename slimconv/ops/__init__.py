"""Drop-in convolution operators, one per file, all in one registry (importing a module registers it)."""

from ._base import SlimConv2d
from ._registry import create_conv, get_op, list_ops, register_op
from .flgc import FLGConv2d, GroupSizes, flgc_balance_loss
from .ghost import GhostConv2d
from .hetconv import HetConv2d
from .linearconv import (
    SPARSITY_UPDATE_EVERY,
    LinearConv2d,
    linearconv_correlation_loss,
    linearconv_sparsity_loss,
    linearconv_update_sparsity_masks,
)
from .octconv import OctConv2d
from .pedconv import INFOMAX_LOSS_WEIGHT, PEDAttention, PEDConv2d, pedconv_auxiliary_loss
from .spconv import SPConv2d, SPConvBranches

__all__ = [
    "INFOMAX_LOSS_WEIGHT",
    "SPARSITY_UPDATE_EVERY",
    "FLGConv2d",
    "GhostConv2d",
    "GroupSizes",
    "HetConv2d",
    "LinearConv2d",
    "OctConv2d",
    "PEDAttention",
    "PEDConv2d",
    "SPConv2d",
    "SPConvBranches",
    "SlimConv2d",
    "create_conv",
    "flgc_balance_loss",
    "get_op",
    "linearconv_correlation_loss",
    "linearconv_sparsity_loss",
    "linearconv_update_sparsity_masks",
    "list_ops",
    "pedconv_auxiliary_loss",
    "register_op",
]
