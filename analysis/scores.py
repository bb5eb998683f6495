"""Redundancy of one layer in a few numbers, all computed from its channel similarity matrix.

- ``similar_pair_share``: share of the ``C (C - 1) / 2`` channel pairs with ``|similarity| >=
  threshold`` (a sign-flipped map is as redundant as a copy: a cheap operation negates it).
- ``rebuildable_channel_share``: share of channels with at least one partner above the threshold.
- ``effective_rank`` (Roy & Vetterli 2007) and ``participation_ratio`` of the maps: from the
  eigenvalues of the similarity matrix, which for Pearson (cosine) is the Gram matrix of the
  standardised (normalised) maps, so its eigenvalues are their squared singular values. Both lie in
  [1, C]: C for independent channels, 1 when every map is a copy of one. The participation ratio
  needs no eigenvalues: ``(sum l)^2 / sum l^2 = trace(S)^2 / |S|_F^2``. When the maps are given and
  have fewer positions than channels, the eigenvalues come from the small positions-by-positions
  Gram matrix instead of the ``C x C`` one (same values, far cheaper for deep layers). ``max_rank`` is what the
  data allow: with P positions per image and B images the rank cannot exceed ``B (P - 1)``
  (Pearson) or ``B P`` (cosine), so deep layers on one image are capped by their few positions.
- ``clusters``: groups in which every pair is at least ``threshold`` alike (complete linkage),
  among the live channels; dead channels (constant on every image) are counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from slimconv._validate import choice, feature_maps, fraction, instance_of, square_matrix

from ._spectrum import effective_rank_from_singular_values, gram_eigenvalues, symmetric_eigenvalues
from .clustering import _cluster_count, alike_pairs, cluster_channels, linking_level, mirrored
from .similarity import (
    METRICS,
    ChannelSimilarity,
    SimilarityMetric,
    normalised_channels,
    stacked_unit_channels,
    upper_gram,
)


@dataclass(frozen=True)
class LayerRedundancyScores:
    """The redundancy scores of one layer (see the module docstring for each)."""

    channels: int
    threshold: float
    similar_pair_share: float
    rebuildable_channel_share: float
    effective_rank: float
    participation_ratio: float
    max_rank: int
    clusters: int
    dead_channels: int


def _off_diagonal_abs(matrix: torch.Tensor) -> torch.Tensor:
    values = matrix.double().abs()
    values.fill_diagonal_(0.0)
    return values


def similar_pair_share(matrix: torch.Tensor, threshold: float = 0.9) -> float:
    """Share of channel pairs ``i < j`` of a ``C x C`` similarity with ``|s_ij| >= threshold``."""
    square_matrix("matrix", matrix)
    fraction("threshold", threshold, low_open=False)
    channels = matrix.shape[0]
    if channels < 2:
        return 0.0
    upper = torch.triu(_off_diagonal_abs(matrix) >= threshold, diagonal=1)
    return float(upper.sum()) / (channels * (channels - 1) / 2)


def rebuildable_channel_share(matrix: torch.Tensor, threshold: float = 0.9) -> float:
    """Share of channels with another channel at ``|similarity| >= threshold``."""
    square_matrix("matrix", matrix)
    fraction("threshold", threshold, low_open=False)
    if matrix.shape[0] < 2:
        return 0.0
    return float((_off_diagonal_abs(matrix) >= threshold).any(dim=1).double().mean())


def effective_rank(matrix: torch.Tensor) -> float:
    """Effective rank of the maps behind a ``C x C`` Pearson/cosine similarity (Gram) matrix."""
    square_matrix("matrix", matrix)
    return effective_rank_from_singular_values(symmetric_eigenvalues(matrix).sqrt())


def participation_ratio(matrix: torch.Tensor) -> float:
    """Participation ratio ``(sum l)^2 / sum l^2`` of the eigenvalues of a symmetric ``C x C``
    similarity, computed as ``trace^2 / |S|_F^2``; 0 for a zero matrix."""
    square_matrix("matrix", matrix)
    values = matrix.double()
    squares = values.square().sum()
    return float(values.trace().square() / squares) if squares > 0 else 0.0


def map_eigenvalues(maps: torch.Tensor, similarity: ChannelSimilarity) -> torch.Tensor:
    """Eigenvalues of ``similarity.matrix`` (the mean over images of the per-image Gram matrices of
    the normalised maps ``B x C x H x W``), by the cheaper route: when the maps have fewer positions
    ``n = B H W`` than channels, from the ``n x n`` Gram matrix of the stacked normalised maps (same
    non-zero eigenvalues), else from the ``C x C`` matrix itself."""
    instance_of("similarity", similarity, ChannelSimilarity)
    maps = feature_maps("maps", maps)
    batch, channels = maps.shape[:2]
    if channels != similarity.channels or batch != similarity.num_images:
        raise ValueError("maps are not the ones the similarity was computed from (channels or images differ)")
    if batch * similarity.positions_per_image >= channels:
        return symmetric_eigenvalues(similarity.matrix)
    stacked = torch.cat([normalised_channels(image, similarity.metric)[0] for image in maps], dim=1)
    return symmetric_eigenvalues(stacked.T @ stacked / batch)


def layer_redundancy_scores(
    similarity: ChannelSimilarity, threshold: float = 0.9, *, maps: torch.Tensor | None = None
) -> LayerRedundancyScores:
    """Every score of the module docstring for one layer's :class:`ChannelSimilarity`; pass the
    ``maps`` it was computed from to get the spectrum the cheap way for deep layers."""
    instance_of("similarity", similarity, ChannelSimilarity)
    fraction("threshold", threshold, low_open=False)
    eigenvalues = symmetric_eigenvalues(similarity.matrix) if maps is None else map_eigenvalues(maps, similarity)
    matrix = similarity.matrix
    live = similarity.constant_share < 1.0
    live_count = int(live.sum())
    centring = 1 if similarity.metric == "pearson" else 0
    max_rank = min(live_count, similarity.num_images * (similarity.positions_per_image - centring))
    live_matrix = matrix[live][:, live]
    clusters = cluster_channels(live_matrix, threshold=threshold).num_clusters if live_count else 0
    return LayerRedundancyScores(
        channels=similarity.channels,
        threshold=threshold,
        similar_pair_share=similar_pair_share(matrix, threshold),
        rebuildable_channel_share=rebuildable_channel_share(matrix, threshold),
        effective_rank=effective_rank_from_singular_values(eigenvalues.sqrt()),
        participation_ratio=participation_ratio(matrix),
        max_rank=max_rank,
        clusters=clusters,
        dead_channels=similarity.channels - live_count,
    )


class SimilarityWorkspace:
    """Memory for the ``C x C`` matrix of :func:`maps_redundancy_scores`, kept from layer to layer of one
    report: a fresh matrix of a deep layer (16 MB for 2048 channels) costs more to allocate, page by
    page, than the GEMM that fills it."""

    def __init__(self) -> None:
        self._values = torch.empty(0)

    def matrix(self, channels: int) -> torch.Tensor:
        """A ``channels x channels`` float32 CPU matrix over this memory (its values are left as they were)."""
        if self._values.numel() < channels * channels:
            self._values = torch.empty(channels * channels)
        return self._values[: channels * channels].view(channels, channels)


def maps_redundancy_scores(
    maps: torch.Tensor,
    metric: SimilarityMetric = "pearson",
    threshold: float = 0.9,
    *,
    workspace: SimilarityWorkspace | None = None,
) -> LayerRedundancyScores:
    """``layer_redundancy_scores(channel_similarity(maps, metric), threshold, maps=maps)``, at the
    cost of one forward pass's worth of arithmetic (what ``redundancy_report`` runs per layer).

    ``maps``: ``B x C x H x W``. The channels are normalised with float64 means and norms (constant
    channels found as there); then float32 GEMMs give the upper triangle of the mean similarity
    ``U U^T / B`` (:func:`analysis.similarity.upper_gram`; no per-image matrices, no minimum, maximum
    or spread, which the scores do not use), and every score reads only that triangle. The spectrum
    comes from the smaller of the two Gram matrices: the positions' ``B H W x B H W`` one in float64
    (small, so cheap, and as the reference has it), or the ``C x C`` one in float32 with the float32
    rounding floor. The alike pairs come from one scan of the triangle in blocks of rows, the
    cluster count from their connected components (see
    :func:`analysis.clustering.complete_linkage_cluster_count`).
    ``workspace``: memory for the ``C x C`` matrix kept from one call to the next (the report keeps
    one per pass). Tested against the float64 route.
    """
    maps = feature_maps("maps", maps, finite=False).detach().cpu()  # finiteness: in stacked_unit_channels
    choice("metric", metric, METRICS)
    fraction("threshold", threshold, low_open=False)
    batch, channels = maps.shape[:2]
    positions = maps[0, 0].numel()
    units32, constant = stacked_unit_channels(maps, metric)
    live_share = 1.0 - constant.double().mean(dim=0)
    # the upper triangle only (below it: garbage); everything after reads just that
    matrix = upper_gram(units32, (workspace or SimilarityWorkspace()).matrix(channels))
    matrix.div_(batch).clamp_(-1.0, 1.0)
    matrix.diagonal().copy_(live_share)
    if units32.shape[1] < channels:  # the positions' Gram is the smaller: float64, as cheap as it is exact
        units = units32.double()
        small = units.T @ units / batch
        eigenvalues = symmetric_eigenvalues(small)
        # |S|_F^2 = |U U^T|_F^2 / B^2 = |U^T U|_F^2 / B^2
        squares = float(torch.linalg.vector_norm(small).square())
    else:
        eigenvalues = gram_eigenvalues(matrix, upper=True)
        squares = float(eigenvalues.square().sum())  # |S|_F^2 = sum of squared eigenvalues
    live = live_share > 0.0
    live_count = int(live.sum())
    centring = 1 if metric == "pearson" else 0
    diagonal_sum = float(matrix.diagonal().double().sum())
    absolute = matrix.abs_()  # in place: a C x C allocation per layer costs more than the pass
    pairs, rebuildable, clusters = _alike_counts(absolute, threshold, live)
    return LayerRedundancyScores(
        channels=channels,
        threshold=threshold,
        similar_pair_share=pairs / (channels * (channels - 1) / 2) if channels > 1 else 0.0,
        rebuildable_channel_share=rebuildable / channels if channels > 1 else 0.0,
        effective_rank=effective_rank_from_singular_values(eigenvalues.sqrt()),
        participation_ratio=diagonal_sum**2 / squares if squares > 0 else 0.0,
        max_rank=min(live_count, batch * (positions - centring)),
        clusters=clusters,
        dead_channels=channels - live_count,
    )


def _alike_counts(absolute: torch.Tensor, threshold: float, live: torch.Tensor) -> tuple[int, int, int]:
    """Alike pairs ``i < j``, channels with an alike partner, and clusters among the ``live`` channels of a
    ``C x C`` ``|similarity|`` whose dead rows are zero, from one scan of its upper triangle."""
    channels = absolute.shape[0]
    level = linking_level(threshold)
    if channels < 2 or level <= 0:  # every pair alike: no scan saves anything
        absolute = mirrored(absolute)
        alike = absolute >= threshold
        alike.fill_diagonal_(False)
        clusters = _cluster_count(absolute, threshold, live=live) if live.any() else 0
        return int(torch.count_nonzero(alike)) // 2, int(alike.any(dim=1).sum()), clusters
    first, second, values = alike_pairs(absolute, level)
    exact = values >= threshold
    partners = torch.zeros(channels, dtype=torch.bool)
    partners[first[exact]] = True
    partners[second[exact]] = True
    clusters = _cluster_count(absolute, threshold, live=live, pairs=(first, second)) if live.any() else 0
    return int(exact.sum()), int(partners.sum()), clusters
