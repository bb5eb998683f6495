"""Are the alike channels the unimportant ones? Channel importance set against channel redundancy.

A channel's redundancy is its highest ``|similarity|`` to any other channel of the layer (how well
the best single partner rebuilds it by an affine map, for Pearson: ``r^2`` is that R^2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.stats import spearmanr

from slimconv._validate import fraction, instance_of

from .attribution.channel_importance import ChannelImportance
from .similarity import ChannelSimilarity


@dataclass(frozen=True)
class ImportanceRedundancy:
    """``importance`` and ``redundancy``: ``C`` each. ``rank_correlation``: Spearman's rho between
    them (negative: alike channels matter less; NaN if either is constant). ``redundant``: ``C``
    bool, redundancy >= threshold; the mean importance of those and of the others."""

    importance: torch.Tensor
    redundancy: torch.Tensor
    rank_correlation: float
    redundant: torch.Tensor
    mean_importance_redundant: float
    mean_importance_other: float
    threshold: float


def channel_redundancy(similarity: ChannelSimilarity) -> torch.Tensor:
    """``C``: each channel's highest ``|similarity|`` to another channel (0 for a single channel)."""
    alike = instance_of("similarity", similarity, ChannelSimilarity).matrix.double().abs()
    alike.fill_diagonal_(0.0)
    return alike.amax(dim=1).float()


def importance_versus_redundancy(
    importance: ChannelImportance, similarity: ChannelSimilarity, *, threshold: float = 0.9
) -> ImportanceRedundancy:
    """Set a layer's channel importance against its channel redundancy (same layer, same ``C``)."""
    instance_of("importance", importance, ChannelImportance)
    instance_of("similarity", similarity, ChannelSimilarity)
    fraction("threshold", threshold, low_open=False)
    channels = importance.importance.numel()
    if channels != similarity.channels:
        raise ValueError(f"importance has {channels} channels and similarity {similarity.channels}: use one layer")
    redundancy = channel_redundancy(similarity)
    values = importance.importance.float()
    rho = float(spearmanr(values.numpy(), redundancy.numpy()).statistic) if channels > 2 else float("nan")
    redundant = redundancy >= threshold
    mean = lambda selected: float(values[selected].mean()) if bool(selected.any()) else float("nan")  # noqa: E731
    return ImportanceRedundancy(
        importance=values,
        redundancy=redundancy,
        rank_correlation=rho,
        redundant=redundant,
        mean_importance_redundant=mean(redundant),
        mean_importance_other=mean(~redundant),
        threshold=float(threshold),
    )
