"""Do two models (say dense and SPConv) look at the same pixels? Agreement of two heatmaps."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.stats import spearmanr

from slimconv._validate import fraction, instance_of

from .base import AttributionMaps


@dataclass(frozen=True)
class AttributionAgreement:
    """Per image (``B``): Spearman rank correlation of the two heatmaps, and the overlap
    (intersection over union) of their ``top_share`` most attributed pixels."""

    rank_correlation: torch.Tensor
    top_overlap: torch.Tensor
    top_share: float


def compare_attributions(
    first: AttributionMaps, second: AttributionMaps, *, top_share: float = 0.1
) -> AttributionAgreement:
    """Agreement of two attribution results for the same images (heatmaps ``B x H x W``)."""
    instance_of("first", first, AttributionMaps)
    instance_of("second", second, AttributionMaps)
    fraction("top_share", top_share)
    if first.heatmaps.shape != second.heatmaps.shape:
        raise ValueError(
            f"heatmaps differ in shape: {tuple(first.heatmaps.shape)} vs {tuple(second.heatmaps.shape)}; "
            "attribute the same images with both models"
        )
    correlations, overlaps = [], []
    for map_a, map_b in zip(first.heatmaps.flatten(1), second.heatmaps.flatten(1), strict=True):
        rho = spearmanr(map_a.numpy(), map_b.numpy()).statistic
        correlations.append(0.0 if rho != rho else float(rho))  # NaN for a constant heatmap
        count = max(1, int(round(top_share * map_a.numel())))
        top_a = torch.zeros_like(map_a, dtype=torch.bool)
        top_b = torch.zeros_like(map_b, dtype=torch.bool)
        top_a[map_a.topk(count).indices] = True
        top_b[map_b.topk(count).indices] = True
        overlaps.append(float((top_a & top_b).sum()) / float((top_a | top_b).sum()))
    return AttributionAgreement(torch.tensor(correlations), torch.tensor(overlaps), float(top_share))
