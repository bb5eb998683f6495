"""The report's fast route (float32 GEMM, smaller Gram, component-wise clustering) gives the scores of
the float64 reference route: channel_similarity -> layer_redundancy_scores, and cluster_channels."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from analysis import channel_similarity, cluster_channels, layer_redundancy_scores
from analysis.clustering import complete_linkage_cluster_count
from analysis.scores import maps_redundancy_scores


def structured_maps(batch: int, channels: int, side: int, seed: int = 0) -> torch.Tensor:
    """Maps with copies, scaled and sign-flipped copies, near-copies, dead and constant channels."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(batch, channels // 4, side, side, generator=generator)
    maps = torch.cat([base, 2 * base + 1, -base, base + 0.3 * torch.randn(base.shape, generator=generator)], 1)
    maps = maps[:, torch.randperm(maps.shape[1], generator=generator)]
    maps[:, 3] = 0.0  # dead
    maps[:, 5] = 7.0  # constant
    return maps.relu() if seed % 2 else maps


def reference(maps: torch.Tensor, metric: str, threshold: float):
    return layer_redundancy_scores(channel_similarity(maps, metric), threshold, maps=maps)


def assert_same_scores(fast, slow, rel: float, abs_: float) -> None:
    """Counts equal, real-valued scores within ``rel`` / ``abs_``."""
    for field in dataclasses.fields(slow):
        expected, got = getattr(slow, field.name), getattr(fast, field.name)
        if isinstance(expected, float):
            assert got == pytest.approx(expected, rel=rel, abs=abs_), field.name
        else:
            assert got == expected, field.name


@pytest.mark.parametrize("metric", ["pearson", "cosine"])
@pytest.mark.parametrize(
    ("batch", "channels", "side"),
    [(1, 32, 8), (3, 32, 8), (1, 64, 3), (4, 64, 3), (2, 16, 1)],  # C < BP, C > BP, 1x1 maps
)
def test_fast_scores_equal_the_reference_route(batch, channels, side, metric):
    for seed in (0, 1):
        maps = structured_maps(batch, channels, side, seed)
        fast, slow = maps_redundancy_scores(maps, metric, 0.9), reference(maps, metric, 0.9)
        assert_same_scores(fast, slow, 1e-4, 1e-6)
        if side > 1:
            assert slow.clusters < channels - slow.dead_channels  # the copies really cluster


@pytest.mark.parametrize("threshold", [0.5, 0.9, 0.99])
def test_component_cluster_count_equals_the_whole_matrix_clustering(threshold):
    for seed in range(4):
        maps = structured_maps(2, 48, 4, seed)
        matrix = channel_similarity(maps).matrix
        live = channel_similarity(maps).constant_share < 1
        matrix = matrix[live][:, live]
        expected = cluster_channels(matrix, threshold=threshold).num_clusters
        assert complete_linkage_cluster_count(matrix, threshold) == expected


def test_fast_scores_of_a_deep_layer_work_in_the_small_gram():
    """2048 channels on 7x7 maps (ResNet-50's last stage on one image): rank <= 48, same scores."""
    maps = torch.randn(1, 2048, 7, 7)
    fast, slow = maps_redundancy_scores(maps), reference(maps, "pearson", 0.9)
    assert fast.max_rank == slow.max_rank == 48
    assert fast.effective_rank == pytest.approx(slow.effective_rank, rel=1e-4)
    assert fast.participation_ratio == pytest.approx(slow.participation_ratio, rel=1e-4)
    assert (fast.similar_pair_share, fast.clusters) == (slow.similar_pair_share, slow.clusters)


@pytest.mark.parametrize("metric", ["pearson", "cosine"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_the_fast_route_refuses_nan_and_infinity_found_in_its_reductions(metric, bad):
    """No separate isfinite pass over the maps: one NaN or infinite value still gives the reference's error."""
    maps = structured_maps(2, 8, 5)
    maps[1, 2, 3, 4] = bad
    with pytest.raises(ValueError, match="maps holds NaN or infinite values"):
        reference(maps, metric, 0.9)
    with pytest.raises(ValueError, match="maps holds NaN or infinite values"):
        maps_redundancy_scores(maps, metric)


@pytest.mark.parametrize("offset", [1e3, 1e20])
def test_fast_scores_of_large_values_equal_the_reference_route(offset):
    """A large offset (centring in float32 loses digits) and values whose squares pass float32's range (the
    norms are reduced in float64) give the reference's scores."""
    maps = structured_maps(3, 32, 8) * (offset if offset > 1e10 else 1.0) + offset
    fast, slow = maps_redundancy_scores(maps, "pearson", 0.9), reference(maps, "pearson", 0.9)
    assert_same_scores(fast, slow, 1e-3, 1e-4)
    assert slow.dead_channels == 2  # the dead and the constant channel
