"""Arguments of channel similarity, the redundancy scores and channel clustering."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

import analysis

from .._arguments import (
    ARGUMENT_SETTINGS,
    NOT_BOOLEANS,
    NOT_POSITIVE_INTS,
    NOT_STRINGS,
    NOT_UNIT_FRACTIONS,
    rejects,
    wrong,
)
from ._arguments import bad_square_matrices, bad_tensors, feature_maps, similarity_matrices

METRICS = st.sampled_from(analysis.METRICS)
NOT_METRICS = st.one_of(NOT_STRINGS, st.text(max_size=8).filter(lambda metric: metric not in analysis.METRICS))
THRESHOLDS = st.floats(0, 1)
NOT_SIMILARITIES = st.one_of(st.none(), st.integers(), st.just(torch.eye(3)))
LINKAGES = ("complete", "average", "single")


@ARGUMENT_SETTINGS
@given(maps=feature_maps(), metric=METRICS)
def test_channel_similarity_is_a_bounded_c_by_c_summary(maps, metric):
    batch, channels = maps.shape[:2]
    result = analysis.channel_similarity(maps, metric)
    assert result.matrix.shape == result.std_over_images.shape == (channels, channels)
    assert (result.num_images, result.channels, result.metric) == (batch, channels, metric)
    assert bool((result.min_over_images <= result.matrix + 1e-6).all())
    assert bool((result.matrix <= result.max_over_images + 1e-6).all())
    assert bool((result.matrix.abs() <= 1 + 1e-6).all()) and bool((result.std_over_images >= 0).all())
    assert bool(((result.constant_share >= 0) & (result.constant_share <= 1)).all())


@ARGUMENT_SETTINGS
@given(maps=bad_tensors(dims=(3, 4)), metric=NOT_METRICS)
def test_channel_similarity_rejects_bad_maps_and_metrics(maps, metric):
    rejects("maps", analysis.channel_similarity, maps)
    rejects("metric", analysis.channel_similarity, torch.randn(1, 3, 4, 4), metric)


@ARGUMENT_SETTINGS
@given(maps=feature_maps(batch=(1, 1)), metric=METRICS, flat=st.booleans())
def test_one_image_similarity_and_its_normalised_rows(maps, metric, flat):
    image = maps[0].flatten(1) if flat else maps[0]
    channels, positions = maps.shape[1], maps[0, 0].numel()
    rows, constant = analysis.normalised_channels(image, metric)
    assert rows.shape == (channels, positions) and constant.shape == (channels,) and constant.dtype == torch.bool
    norms = rows.norm(dim=1)
    assert bool(torch.where(constant, norms == 0, (norms - 1).abs() < 1e-9).all())
    matrix, same_constant = analysis.per_image_similarity(image, metric)
    assert matrix.shape == (channels, channels) and torch.equal(constant, same_constant)
    assert torch.allclose(matrix, matrix.T) and bool((matrix.abs() <= 1).all())


@ARGUMENT_SETTINGS
@given(maps=bad_tensors(dims=(2, 3)), metric=NOT_METRICS)
def test_one_image_functions_reject_bad_maps_and_metrics(maps, metric):
    for function in (analysis.normalised_channels, analysis.per_image_similarity):
        rejects("maps", function, maps)
        rejects("metric", function, torch.randn(3, 4, 4), metric)


@ARGUMENT_SETTINGS
@given(matrix=similarity_matrices(), threshold=THRESHOLDS)
def test_scores_of_a_similarity_matrix_are_in_range(matrix, threshold):
    channels = matrix.shape[0]
    assert 0 <= analysis.similar_pair_share(matrix, threshold) <= 1
    assert 0 <= analysis.rebuildable_channel_share(matrix, threshold) <= 1
    assert 0 <= analysis.effective_rank(matrix) <= channels + 1e-6
    assert 0 <= analysis.participation_ratio(matrix) <= channels + 1e-6


SCORES = [
    analysis.similar_pair_share,
    analysis.rebuildable_channel_share,
    analysis.effective_rank,
    analysis.participation_ratio,
]


@ARGUMENT_SETTINGS
@given(matrix=bad_square_matrices(), threshold=NOT_UNIT_FRACTIONS)
def test_scores_reject_bad_matrices_and_thresholds(matrix, threshold):
    for score in SCORES:
        rejects("matrix", score, matrix)
    for score in SCORES[:2]:
        rejects("threshold", score, torch.eye(3), threshold)


@ARGUMENT_SETTINGS
@given(maps=feature_maps(), metric=METRICS, threshold=THRESHOLDS, give_maps=st.booleans())
def test_layer_redundancy_scores_are_in_range(maps, metric, threshold, give_maps):
    similarity = analysis.channel_similarity(maps, metric)
    eigenvalues = analysis.map_eigenvalues(maps, similarity)
    assert bool((eigenvalues >= 0).all()) and bool((eigenvalues[:-1] >= eigenvalues[1:]).all())
    scores = analysis.layer_redundancy_scores(similarity, threshold, maps=maps if give_maps else None)
    channels = maps.shape[1]
    assert scores.channels == channels and 0 <= scores.dead_channels <= channels
    assert 0 <= scores.similar_pair_share <= 1 and 0 <= scores.rebuildable_channel_share <= 1
    assert 0 <= scores.effective_rank <= channels + 1e-6 and 0 <= scores.max_rank <= channels
    assert 0 <= scores.clusters <= channels


@ARGUMENT_SETTINGS
@given(similarity=NOT_SIMILARITIES, threshold=NOT_UNIT_FRACTIONS, other_channels=st.integers(1, 5))
def test_layer_scores_reject_what_is_not_the_similarity_of_the_maps(similarity, threshold, other_channels):
    maps = torch.randn(2, 6, 3, 3)
    computed = analysis.channel_similarity(maps)
    rejects("similarity", analysis.layer_redundancy_scores, similarity)
    rejects("similarity", analysis.map_eigenvalues, maps, similarity)
    rejects("threshold", analysis.layer_redundancy_scores, computed, threshold)
    rejects("maps", analysis.map_eigenvalues, maps[:, :other_channels], computed)
    rejects("maps", analysis.layer_redundancy_scores, computed, maps=maps[:1])


@ARGUMENT_SETTINGS
@given(
    matrix=similarity_matrices(),
    threshold=THRESHOLDS,
    linkage=st.sampled_from(LINKAGES),
    by_count=st.booleans(),
    data=st.data(),
)
def test_cluster_channels_orders_every_channel_into_blocks(matrix, threshold, linkage, by_count, data):
    channels = matrix.shape[0]
    count = data.draw(st.integers(1, channels)) if by_count else None
    clusters = analysis.cluster_channels(matrix, threshold=threshold, num_clusters=count, linkage=linkage)
    assert sorted(clusters.order.tolist()) == list(range(channels))
    assert int(clusters.block_sizes.sum()) == channels and len(clusters.representatives) == clusters.num_clusters
    assert bool(((clusters.labels >= 0) & (clusters.labels < clusters.num_clusters)).all())
    if by_count:
        assert clusters.num_clusters == count


BAD_CLUSTER_ARGUMENTS = st.one_of(
    wrong("threshold", NOT_UNIT_FRACTIONS),  # None too: then neither a threshold nor a count is given
    wrong("num_clusters", st.one_of(NOT_POSITIVE_INTS.filter(lambda n: n is not None), st.integers(5, 9))),  # C = 4
    wrong("linkage", st.one_of(NOT_STRINGS, st.text(max_size=8).filter(lambda name: name not in LINKAGES))),
    wrong("absolute", NOT_BOOLEANS),
)


@ARGUMENT_SETTINGS
@given(matrix=bad_square_matrices(), bad=BAD_CLUSTER_ARGUMENTS)
def test_cluster_channels_rejects_bad_matrices_and_options(matrix, bad):
    rejects("similarity", analysis.cluster_channels, matrix)
    argument, options = bad
    rejects(argument, analysis.cluster_channels, torch.eye(4), **options)
