"""The report's fast route (float32 GEMM, smaller Gram, component-wise clustering) gives the scores of
the float64 reference route: channel_similarity -> layer_redundancy_scores, and cluster_channels."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from analysis import channel_similarity, cluster_channels, clustering, layer_redundancy_scores, similarity
from analysis.clustering import complete_linkage_cluster_count
from analysis.scores import SimilarityWorkspace, maps_redundancy_scores


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


@pytest.mark.parametrize("channels", [1, 2, 5, 300])
def test_upper_gram_strips_equal_the_full_product_above_the_diagonal(channels, monkeypatch):
    monkeypatch.setattr(similarity, "_GRAM_STRIP_ROWS", 64)  # several strips, the last one short
    units = torch.randn(channels, 37, generator=torch.Generator().manual_seed(channels))
    out = torch.full((channels, channels), float("nan"))
    upper = similarity.upper_gram(units, out)
    assert upper.data_ptr() == out.data_ptr()
    torch.testing.assert_close(torch.triu(upper), torch.triu(units @ units.T))
    strip = torch.arange(channels) // 64
    skipped = strip[:, None] > strip[None, :]  # below the strips' diagonal blocks: never computed
    assert torch.isnan(upper[skipped]).all()


@pytest.mark.parametrize("channels", [2, 7, 301])
def test_alike_pairs_scanned_in_blocks_are_the_upper_triangles_pairs(channels, monkeypatch):
    monkeypatch.setattr(clustering, "_SCAN_VALUES", 500)  # blocks of one to a few rows
    values = torch.rand(channels, channels, generator=torch.Generator().manual_seed(channels))
    first, second, found = clustering.alike_pairs(values, 0.8)
    expected = torch.nonzero(torch.triu(values >= 0.8, diagonal=1))
    assert torch.equal(torch.stack([first, second], 1), expected)  # row-major order, upper triangle only
    assert torch.equal(found, values[expected[:, 0], expected[:, 1]])


def test_a_workspace_kept_across_layers_gives_each_layer_its_own_scores():
    workspace = SimilarityWorkspace()
    big, small = structured_maps(2, 64, 5, seed=0), structured_maps(2, 16, 5, seed=1)
    for maps in (big, small, big):  # the small layer reuses the big layer's memory, garbage below the diagonal
        assert maps_redundancy_scores(maps, workspace=workspace) == maps_redundancy_scores(maps)


def test_float64_reductions_in_blocks_of_rows_equal_one_reduction(monkeypatch):
    maps = structured_maps(3, 32, 8, seed=2) * 1e3 + 1e4
    whole = maps_redundancy_scores(maps)
    monkeypatch.setattr(similarity, "_REDUCTION_BLOCK_VALUES", 100)  # one 64-value row per block
    assert maps_redundancy_scores(maps) == whole


@pytest.mark.parametrize("threshold", [0.0, 5e-6])
def test_a_threshold_that_makes_every_pair_alike_takes_the_whole_matrix(threshold):
    """At or under the scan's margin every pair is alike, the dead channels too: the reference's counts."""
    maps = structured_maps(2, 16, 4)
    assert_same_scores(maps_redundancy_scores(maps, "pearson", threshold), reference(maps, "pearson", threshold),
                       1e-4, 1e-6)
