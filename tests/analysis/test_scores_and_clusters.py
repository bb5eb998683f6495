import pytest
import torch

from analysis import (
    channel_similarity,
    cluster_channels,
    effective_rank,
    layer_redundancy_scores,
    map_eigenvalues,
    participation_ratio,
    rebuildable_channel_share,
    similar_pair_share,
)


def blocks_of_copies(
    block_sizes: list[int], batch: int = 2, noise: float = 0.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maps whose channels are (scaled, sign-flipped) copies of one source per block, channels shuffled.
    Returns the maps and each channel's planted block label."""
    generator = torch.Generator().manual_seed(seed)
    sources = torch.randn(batch, len(block_sizes), 10, 10, generator=generator)
    channels, labels = [], []
    for block, size in enumerate(block_sizes):
        for copy in range(size):
            scale = (copy + 1) * (-1) ** copy
            channels.append(scale * sources[:, block] + noise * torch.randn(batch, 10, 10, generator=generator))
            labels.append(block)
    permutation = torch.randperm(len(labels), generator=generator)
    maps = torch.stack(channels, dim=1)[:, permutation]
    return maps, torch.tensor(labels)[permutation]


def test_pair_shares_count_exactly():
    matrix = torch.eye(4)
    matrix[0, 1] = matrix[1, 0] = 0.95
    matrix[2, 3] = matrix[3, 2] = -0.92
    assert similar_pair_share(matrix, 0.9) == pytest.approx(2 / 6)
    assert similar_pair_share(matrix, 0.93) == pytest.approx(1 / 6)
    assert rebuildable_channel_share(matrix, 0.93) == pytest.approx(2 / 4)
    assert similar_pair_share(torch.ones(1, 1), 0.9) == 0.0


def test_effective_rank_is_one_for_copies_and_c_for_orthogonal_channels():
    assert effective_rank(torch.ones(5, 5)) == pytest.approx(1.0)
    assert participation_ratio(torch.ones(5, 5)) == pytest.approx(1.0)
    assert effective_rank(torch.eye(5)) == pytest.approx(5.0)
    assert participation_ratio(torch.eye(5)) == pytest.approx(5.0)
    two_blocks = torch.block_diag(torch.ones(3, 3), torch.ones(2, 2))
    assert 1.0 < effective_rank(two_blocks) <= 2.0 + 1e-9
    assert participation_ratio(two_blocks) == pytest.approx(25 / 13)


def test_planted_blocks_are_recovered_and_ordered_contiguously():
    maps, planted = blocks_of_copies([4, 3, 2, 1], noise=0.01)
    clusters = cluster_channels(channel_similarity(maps), threshold=0.9)
    assert clusters.num_clusters == 4
    assert clusters.block_sizes.tolist() == [4, 3, 2, 1]
    for label in range(4):  # each found cluster is exactly one planted block
        assert planted[clusters.labels == label].unique().numel() == 1
    assert sorted(clusters.order.tolist()) == list(range(10))
    assert clusters.labels[clusters.order].tolist() == [0] * 4 + [1] * 3 + [2] * 2 + [3]
    for label, representative in enumerate(clusters.representatives.tolist()):
        assert clusters.labels[representative] == label


def test_sign_flips_cluster_together_only_with_absolute_similarity():
    maps, _ = blocks_of_copies([2], noise=0.0)  # channel copies with scales 1 and -2
    similarity = channel_similarity(maps)
    assert cluster_channels(similarity, threshold=0.9).num_clusters == 1
    assert cluster_channels(similarity, threshold=0.9, absolute=False).num_clusters == 2


def test_cluster_count_can_be_imposed():
    maps, _ = blocks_of_copies([3, 3, 2], noise=0.05)
    clusters = cluster_channels(channel_similarity(maps), num_clusters=2, linkage="average")
    assert clusters.num_clusters == 2 and clusters.threshold is None
    assert int(clusters.block_sizes.sum()) == 8


def test_layer_scores_of_planted_copies():
    maps, _ = blocks_of_copies([3, 3, 1, 1], noise=0.0, batch=2)
    maps = torch.cat([maps, torch.zeros(2, 1, 10, 10)], dim=1)  # a dead channel
    scores = layer_redundancy_scores(channel_similarity(maps), threshold=0.9)
    assert scores.channels == 9
    assert scores.dead_channels == 1
    assert scores.clusters == 4
    assert scores.similar_pair_share == pytest.approx(6 / 36)
    assert scores.rebuildable_channel_share == pytest.approx(6 / 9)
    assert 1.0 <= scores.effective_rank <= 4.0 + 1e-6
    assert scores.participation_ratio <= 4.0 + 1e-6
    assert scores.max_rank == 8  # live channels; 2 x 99 positions allow more


def test_max_rank_is_capped_by_few_positions():
    maps = torch.randn(1, 20, 2, 2)
    scores = layer_redundancy_scores(channel_similarity(maps))
    assert scores.max_rank == 3
    assert scores.effective_rank <= 3.0 + 1e-6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(threshold=1.5), "threshold"),
        (dict(threshold=None), "threshold in"),
        (dict(num_clusters=9), "exceeds"),
        (dict(linkage="ward"), "linkage"),
    ],
)
def test_bad_cluster_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cluster_channels(torch.eye(4), **kwargs)


def test_non_square_matrix_is_refused():
    with pytest.raises(ValueError, match="square"):
        similar_pair_share(torch.zeros(2, 3))


@pytest.mark.parametrize(("batch", "channels", "size"), [(1, 30, 3), (3, 6, 4), (2, 12, 2)])
def test_cheap_spectrum_of_the_maps_equals_the_matrix_spectrum(batch, channels, size):
    maps = torch.randn(batch, channels, size, size)
    maps[:, 1] = 0  # a dead channel
    similarity = channel_similarity(maps)
    from_maps = map_eigenvalues(maps, similarity)
    from_matrix = torch.linalg.eigvalsh(similarity.matrix.double()).flip(0).clamp_min(0)
    count = min(len(from_maps), len(from_matrix))
    assert torch.allclose(from_maps[:count], from_matrix[:count], atol=1e-5)
    assert torch.all(from_matrix[count:] < 1e-5)
    with_maps = layer_redundancy_scores(similarity, maps=maps)
    without = layer_redundancy_scores(similarity)
    assert with_maps.effective_rank == pytest.approx(without.effective_rank, rel=1e-4)


def test_maps_must_match_the_similarity():
    similarity = channel_similarity(torch.randn(1, 4, 3, 3))
    with pytest.raises(ValueError, match="not the ones"):
        map_eigenvalues(torch.randn(1, 5, 3, 3), similarity)
