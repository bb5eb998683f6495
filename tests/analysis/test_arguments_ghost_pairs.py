"""Arguments of ghost pairs and of the cheap rebuilds (affine, depthwise) behind them."""

from __future__ import annotations

import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import analysis

from .._arguments import ARGUMENT_SETTINGS, NOT_POSITIVE_INTS, rejects, wrong
from ._arguments import NOT_TENSORS, bad_tensors, feature_maps, seeded_randn

KERNELS = st.sampled_from([1, 3, 5])
NOT_ODD_KERNELS = st.one_of(NOT_POSITIVE_INTS, st.integers(1, 4).map(lambda k: 2 * k))


@ARGUMENT_SETTINGS
@given(maps=feature_maps(channels=(2, 5)), pairs=st.integers(1, 9), kernel=KERNELS, reuse=st.booleans(), data=st.data())
def test_ghost_pairs_returns_the_most_alike_live_pairs(maps, pairs, kernel, reuse, data):
    batch, channels, height, width = maps.shape
    options = dict(num_pairs=pairs, kernel_size=kernel, example_image=data.draw(st.integers(0, batch - 1)))
    similarity = analysis.channel_similarity(maps) if reuse else None
    result = analysis.ghost_pairs(maps, similarity=similarity, **options)
    count = len(result.source_channels)
    assert 1 <= count <= min(pairs, channels * (channels - 1) // 2)
    assert result.example_maps.shape == (count, 4, height, width)
    assert result.depthwise_kernels.shape == (count, kernel, kernel)
    assert bool((result.source_channels != result.target_channels).all())
    assert bool((result.affine_r2 <= 1 + 1e-6).all()) and bool((result.depthwise_r2 <= 1 + 1e-6).all())


BAD_GHOST_OPTIONS = st.one_of(
    wrong("num_pairs", NOT_POSITIVE_INTS),
    wrong("kernel_size", NOT_ODD_KERNELS),
    wrong("example_image", st.one_of(st.integers(2, 9), st.integers(max_value=-1), st.floats(0, 1), st.booleans())),
    wrong("metric", st.text(max_size=6).filter(lambda metric: metric not in analysis.METRICS)),
    wrong("similarity", st.one_of(st.integers(), st.just(torch.eye(4)))),
)


@ARGUMENT_SETTINGS
@given(maps=bad_tensors(dims=(3, 4)), bad=BAD_GHOST_OPTIONS)
def test_ghost_pairs_rejects_bad_maps_and_options(maps, bad):
    good = torch.randn(2, 4, 5, 5)  # two images: example_image 2 and beyond is out of range
    rejects("maps", analysis.ghost_pairs, maps)
    rejects("maps", analysis.ghost_pairs, good[:, :1])  # one channel: no pair
    argument, options = bad
    rejects(argument, analysis.ghost_pairs, good, **options)


@ARGUMENT_SETTINGS
@given(other=feature_maps(batch=(1, 3), channels=(1, 5)))
def test_ghost_pairs_rejects_the_similarity_of_other_maps(other):
    maps = torch.randn(2, 4, 5, 5)
    assume(other.shape[:2] != maps.shape[:2])
    rejects("similarity", analysis.ghost_pairs, maps, similarity=analysis.channel_similarity(other))


@ARGUMENT_SETTINGS
@given(batch=st.integers(1, 3), side=st.integers(1, 6), kernel=KERNELS, seed=st.integers(0, 2**16))
def test_cheap_rebuilds_fit_maps_of_one_shape(batch, side, kernel, seed):
    source, target = seeded_randn(seed, batch, side, side), seeded_randn(seed + 1, batch, side, side)
    affine = analysis.fit_affine(source, target)
    depthwise = analysis.fit_depthwise(source, target, kernel)
    assert affine.rebuilt.shape == depthwise.rebuilt.shape == target.shape
    assert affine.weights.shape == (1,) and depthwise.weights.shape == (kernel, kernel)
    assert affine.r2 <= 1 + 1e-9 and depthwise.r2 <= 1 + 1e-9
    exact = analysis.fit_affine(source, 2 * source - 1)
    assert abs(exact.r2 - 1) < 1e-6 or float(source.std()) == 0


@ARGUMENT_SETTINGS
@given(bad=st.one_of(NOT_TENSORS, bad_tensors(dims=(3,))), kernel=NOT_ODD_KERNELS, other_side=st.integers(1, 3))
def test_cheap_rebuilds_reject_bad_maps_and_kernels(bad, kernel, other_side):
    good = torch.randn(2, 4, 4)
    for fit in (analysis.fit_affine, analysis.fit_depthwise):
        rejects("source", fit, bad, good)
        rejects("target", fit, good, bad)
        rejects("differ in shape", fit, good, torch.randn(2, 4, 4 + other_side))
    rejects("kernel_size", analysis.fit_depthwise, good, good, kernel)
