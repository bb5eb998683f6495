"""Arguments of attribution: the four methods, channel importance, agreement, importance against redundancy."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import analysis

from .._arguments import ARGUMENT_SETTINGS, NON_NUMBERS, NOT_MODULES, NOT_POSITIVE_INTS, NOT_STRINGS, rejects, wrong
from ._arguments import bad_tensors, feature_maps
from ._models import TinyNet, images

# captum runs the model many times per call: fewer examples keep this file fast.
CAPTUM_SETTINGS = settings(ARGUMENT_SETTINGS, max_examples=8)
BATCHES = st.integers(1, 2)
SIDES = st.integers(5, 8)
TARGETS = st.one_of(st.none(), st.integers(0, 3))
NOT_TARGETS = st.sampled_from([1.5, "cat", [0.5], True, torch.tensor([0.2]), 4, -1, [0, 1, 2]])  # 4 classes, B = 2
NOT_FINITE_NUMBERS = st.one_of(st.sampled_from([float("nan"), float("inf"), -float("inf")]), NON_NUMBERS)


def methods(model: torch.nn.Module) -> list[analysis.AttributionMethod]:
    return [
        analysis.Saliency(model),
        analysis.GradCAM(model, "conv2"),
        analysis.IntegratedGradients(model, n_steps=3, internal_batch_size=3),
        analysis.Occlusion(model, window_px=3, stride_px=2, perturbations_per_eval=4),
    ]


@CAPTUM_SETTINGS
@given(batch=BATCHES, side=SIDES, target=TARGETS)
def test_every_method_gives_one_heatmap_per_image(batch, side, target):
    model = TinyNet()
    for method in methods(model):
        maps = method.attribute(images(batch, side), target=target)
        assert maps.heatmaps.shape == (batch, side, side) and maps.targets.shape == (batch,)
        assert maps.attributions.shape[0] == batch and bool(torch.isfinite(maps.attributions).all())
        assert analysis.attached_hook_count(model) == 0


@ARGUMENT_SETTINGS
@given(batch=bad_tensors(dims=(3, 4)), target=NOT_TARGETS)
def test_every_method_rejects_bad_images_and_targets(batch, target):
    model = TinyNet()
    for method in methods(model):
        rejects("images", method.attribute, batch)
        rejects("images have 2 channels", method.attribute, torch.randn(1, 2, 6, 6))
        rejects("target", method.attribute, images(2, 6), target=target)
    assert analysis.attached_hook_count(model) == 0


BAD_METHOD_OPTIONS = st.one_of(
    wrong("n_steps", NOT_POSITIVE_INTS).map(lambda bad: (analysis.IntegratedGradients, *bad)),
    wrong("internal_batch_size", NOT_POSITIVE_INTS).map(lambda bad: (analysis.IntegratedGradients, *bad)),
    wrong("baseline", NOT_FINITE_NUMBERS).map(lambda bad: (analysis.IntegratedGradients, *bad)),
    wrong("window_px", NOT_POSITIVE_INTS).map(lambda bad: (analysis.Occlusion, *bad)),
    wrong("stride_px", NOT_POSITIVE_INTS).map(lambda bad: (analysis.Occlusion, *bad)),
    wrong("perturbations_per_eval", NOT_POSITIVE_INTS).map(lambda bad: (analysis.Occlusion, *bad)),
    wrong("baseline", NOT_FINITE_NUMBERS).map(lambda bad: (analysis.Occlusion, *bad)),
)


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, bad=BAD_METHOD_OPTIONS, layer_name=st.one_of(NOT_STRINGS, st.just("conv9")))
def test_methods_reject_bad_models_and_options(model, bad, layer_name):
    for method in (analysis.Saliency, analysis.IntegratedGradients, analysis.Occlusion):
        rejects("model", method, model)
    rejects("model", analysis.GradCAM, model, "conv2")
    rejects("layer", analysis.GradCAM, TinyNet(), layer_name)
    method, argument, options = bad
    rejects(argument, method, TinyNet(), **options)
    rejects("window_px", analysis.Occlusion(TinyNet(), window_px=9).attribute, images(1, 8))


@CAPTUM_SETTINGS
@given(batch=BATCHES, side=SIDES, method=st.sampled_from(["ablation", "conductance"]), target=TARGETS)
def test_channel_importance_has_one_value_per_channel(batch, side, method, target):
    result = analysis.channel_importance(
        TinyNet(), "conv2", images(batch, side), target, method=method, n_steps=3, internal_batch_size=4
    )
    assert result.per_image.shape == (batch, 8) and result.importance.shape == (8,)
    assert bool((result.importance >= 0).all()) and result.method == method


BAD_IMPORTANCE_OPTIONS = st.one_of(
    wrong("method", st.text(max_size=6).filter(lambda name: name not in {"ablation", "conductance"})),
    wrong("n_steps", NOT_POSITIVE_INTS),
    wrong("internal_batch_size", NOT_POSITIVE_INTS),
    wrong("perturbations_per_eval", NOT_POSITIVE_INTS),
)


@ARGUMENT_SETTINGS
@given(bad=BAD_IMPORTANCE_OPTIONS, model=NOT_MODULES, layer_name=st.one_of(NOT_STRINGS, st.just("conv9")))
def test_channel_importance_rejects_bad_arguments(bad, model, layer_name):
    argument, options = bad
    rejects(argument, analysis.channel_importance, TinyNet(), "conv2", images(1, 6), **options)
    rejects("model", analysis.channel_importance, model, "conv2", images(1, 6))
    rejects("layer", analysis.channel_importance, TinyNet(), layer_name, images(1, 6))
    rejects("images", analysis.channel_importance, TinyNet(), "conv2", torch.randn(1, 2, 6, 6))
    rejects("target", analysis.channel_importance, TinyNet(), "conv2", images(1, 6), 7)


def saliency(batch: int, side: int, seed: int = 0) -> analysis.AttributionMaps:
    return analysis.Saliency(TinyNet()).attribute(images(batch, side, seed))


@ARGUMENT_SETTINGS
@given(batch=BATCHES, side=SIDES, top_share=st.floats(0.01, 1))
def test_compare_attributions_gives_bounded_agreement_per_image(batch, side, top_share):
    agreement = analysis.compare_attributions(saliency(batch, side), saliency(batch, side, 1), top_share=top_share)
    assert agreement.rank_correlation.shape == agreement.top_overlap.shape == (batch,)
    assert bool(((agreement.top_overlap >= 0) & (agreement.top_overlap <= 1)).all())


@ARGUMENT_SETTINGS
@given(
    other=st.one_of(NOT_MODULES, st.just(torch.zeros(1, 6, 6))),
    top_share=st.one_of(st.floats(max_value=0), st.floats(min_value=1.001), NOT_FINITE_NUMBERS),
)
def test_compare_attributions_rejects_other_results_and_shares(other, top_share):
    maps = saliency(1, 6)
    rejects("first", analysis.compare_attributions, other, maps)
    rejects("second", analysis.compare_attributions, maps, other)
    rejects("top_share", analysis.compare_attributions, maps, maps, top_share=top_share)
    rejects("heatmaps differ", analysis.compare_attributions, maps, saliency(2, 6))


def importance(channels: int, seed: int = 0) -> analysis.ChannelImportance:
    """A ChannelImportance of ``channels`` channels without running captum."""
    per_image = torch.randn(2, channels, generator=torch.Generator().manual_seed(seed))
    return analysis.ChannelImportance("layer", "ablation", per_image, per_image.abs().mean(0), torch.zeros(2).long())


@ARGUMENT_SETTINGS
@given(maps=feature_maps(channels=(1, 6)), threshold=st.floats(0, 1))
def test_importance_against_redundancy_of_one_layer(maps, threshold):
    channels = maps.shape[1]
    similarity = analysis.channel_similarity(maps)
    redundancy = analysis.channel_redundancy(similarity)
    assert redundancy.shape == (channels,) and bool(((redundancy >= 0) & (redundancy <= 1 + 1e-6)).all())
    result = analysis.importance_versus_redundancy(importance(channels), similarity, threshold=threshold)
    assert result.redundant.shape == (channels,) and torch.equal(result.redundant, redundancy >= threshold)


@ARGUMENT_SETTINGS
@given(
    other=st.one_of(NOT_MODULES, st.just(torch.eye(3))),
    threshold=st.one_of(st.floats(max_value=-0.001), st.floats(min_value=1.001), NOT_FINITE_NUMBERS),
    channels=st.integers(1, 5),
)
def test_importance_against_redundancy_rejects_other_results(other, threshold, channels):
    similarity = analysis.channel_similarity(torch.randn(2, 6, 4, 4))
    rejects("similarity", analysis.channel_redundancy, other)
    rejects("importance", analysis.importance_versus_redundancy, other, similarity)
    rejects("similarity", analysis.importance_versus_redundancy, importance(6), other)
    rejects("threshold", analysis.importance_versus_redundancy, importance(6), similarity, threshold=threshold)
    rejects("one layer", analysis.importance_versus_redundancy, importance(channels), similarity)
