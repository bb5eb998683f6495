"""Arguments of the figure builders: each takes its own result type and checks every option first.

tests/analysis/test_figures.py draws every builder; here random valid options give a figure and
every bad result or option is a ValueError naming it before anything is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

import analysis
import slimconv
from analysis import figures

from .._arguments import ARGUMENT_SETTINGS, NOT_POSITIVE_INTS, NOT_STRINGS, rejects
from ._arguments import NOT_TENSORS, bad_tensors
from ._models import TinyNet, images

BATCH, CHANNELS, FILTERS = 2, 8, 6
NAMES = st.text(alphabet="abcxyz_.0123 ", max_size=8)  # no "$": matplotlib would read mathtext
IMAGE_INDICES = st.integers(0, BATCH - 1)
NOT_IMAGE_INDICES = st.one_of(st.integers(BATCH, 9), st.integers(max_value=-1), st.floats(0, 1), st.booleans())
FIGURE_SETTINGS = settings(ARGUMENT_SETTINGS, max_examples=3)  # building a figure takes tens of milliseconds


@pytest.fixture(scope="module")
def results() -> dict[str, object]:
    """One small result of every type a builder draws."""
    torch.manual_seed(0)
    model = TinyNet().eval()
    x = images(BATCH, 6)
    maps = analysis.capture_activations(model, x, ["conv1"]).activations["conv1"]
    similarity = analysis.channel_similarity(maps)
    weight = torch.randn(FILTERS, 4, 3, 3)
    flgc = slimconv.create_conv("flgc", CHANNELS, CHANNELS, 1, groups=2)
    saliency = analysis.Saliency(model).attribute(x)
    per_image = torch.rand(BATCH, CHANNELS)
    importance = analysis.ChannelImportance("conv1", "ablation", per_image, per_image.mean(0), saliency.targets)
    grams = analysis.layer_grams(model, images(4, 6))
    return {
        "maps": maps,
        "images": x,
        "similarity": similarity,
        "clusters": analysis.cluster_channels(similarity),
        "pairs": analysis.ghost_pairs(maps, num_pairs=2),
        "versus": analysis.importance_versus_redundancy(importance, similarity),
        "saliency": saliency,
        "grad_cam": analysis.GradCAM(model, "conv2").attribute(x, target=saliency.targets),
        "report": analysis.redundancy_report(model, x),
        "cka": analysis.cka_map(grams, grams),
        "spconv": analysis.inspect_spconv(slimconv.create_conv("spconv", CHANNELS, CHANNELS, 3), maps),
        "what_if": analysis.split_what_if(maps, 0.5),
        "flgc": analysis.inspect_flgc(flgc),
        "switches": analysis.flgc_switches(flgc, slimconv.create_conv("flgc", CHANNELS, CHANNELS, 1, groups=2)),
        "pedconv": analysis.inspect_pedconv(slimconv.create_conv("pedconv", CHANNELS, CHANNELS, 3), maps),
        "grouping": analysis.dense_grouping(weight, 2),
        "correlation": analysis.filter_correlation(weight),
        "spectrum": analysis.filter_spectrum(weight),
        "rebuild": analysis.primaries_needed(weight),
        "linearconv": analysis.inspect_linearconv(slimconv.create_conv("linearconv", 4, CHANNELS, 3)),
    }


@dataclass(frozen=True)
class Builder:
    """A builder of one result: its first argument's name and key in ``results``, and its options."""

    build: Callable[..., Figure]
    argument: str
    result: str
    options: dict[str, st.SearchStrategy]
    bad_options: dict[str, st.SearchStrategy]


def spec(build: Callable[..., Figure], argument: str, result: str, *names: str, **extra: tuple) -> Builder:
    """``names``: text options; ``extra``: option -> (valid values, invalid values)."""
    options = {name: NAMES for name in names} | {name: values[0] for name, values in extra.items()}
    bad_options = {name: NOT_STRINGS for name in names} | {name: values[1] for name, values in extra.items()}
    return Builder(build, argument, result, options, bad_options)


ORDER = st.lists(st.integers(0, FILTERS - 1), min_size=1, max_size=FILTERS, unique=True)
NOT_ORDERS = st.sampled_from([[], [FILTERS], [0, 20], [0.5], "01", [[0]]])
COUNTS = st.integers(1, 4)
IMAGE_INDEX = (IMAGE_INDICES, NOT_IMAGE_INDICES)
F = figures
BUILDERS = {
    builder.build.__name__: builder
    for builder in [
        spec(F.similarity_heatmap_figure, "similarity", "similarity", "layer_name"),
        spec(F.ghost_pairs_figure, "pairs", "pairs", max_pairs=(COUNTS, NOT_POSITIVE_INTS)),
        spec(F.importance_redundancy_figure, "result", "versus", "layer_name"),
        spec(F.redundancy_profile_figure, "report", "report", "model_name"),
        spec(F.cka_figure, "cka", "cka", "model_a_name", "model_b_name"),
        spec(F.spconv_figure, "inspection", "spconv", "layer_name", "image_name", image_index=IMAGE_INDEX,
             max_channels=(COUNTS, NOT_POSITIVE_INTS)),
        spec(F.split_what_if_figure, "what_if", "what_if", "layer_name"),
        spec(F.flgc_groups_figure, "inspection", "flgc", "layer_name"),
        spec(F.flgc_switches_figure, "switches", "switches", "before_name", "after_name"),
        spec(F.dense_grouping_figure, "grouping", "grouping", "layer_name"),
        spec(F.pedconv_figure, "inspection", "pedconv", "layer_name", "image_name", image_index=IMAGE_INDEX),
        spec(F.filter_correlation_figure, "correlation", "correlation", "layer_name", order=(ORDER, NOT_ORDERS)),
        spec(F.spectrum_figure, "spectrum", "spectrum", "layer_name"),
        spec(F.primaries_figure, "rebuild", "rebuild", "layer_name"),
        spec(F.linearconv_figure, "inspection", "linearconv", "layer_name"),
    ]
}
#: The builders whose arguments are not one result: tested one by one below.
OTHER_BUILDERS = {"feature_map_grid_figure", "attribution_overlay_figure", "attribution_comparison_figure"}


def test_every_builder_is_in_these_argument_tests():
    assert set(BUILDERS) | OTHER_BUILDERS == {name for name in figures.__all__ if name.endswith("_figure")}


@FIGURE_SETTINGS
@given(data=st.data())
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_random_valid_options_give_a_figure(results, name, data):
    builder = BUILDERS[name]
    options = {option: data.draw(values, label=option) for option, values in builder.options.items()}
    assert isinstance(builder.build(results[builder.result], **options), Figure)


@ARGUMENT_SETTINGS
@given(data=st.data())
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_bad_results_and_options_are_named(results, name, data):
    builder = BUILDERS[name]
    other = data.draw(st.one_of(st.sampled_from(["report", "similarity", "maps"]), st.just(None)), label="other result")
    not_result = results[other] if other and other != builder.result else data.draw(NOT_TENSORS, label="not a result")
    rejects(builder.argument, builder.build, not_result)
    for option, values in builder.bad_options.items():
        rejects(option, builder.build, results[builder.result], **{option: data.draw(values, label=option)})


def test_similarity_heatmap_rejects_clusters_of_other_channels(results):
    rejects("clusters", figures.similarity_heatmap_figure, results["similarity"], torch.eye(CHANNELS))
    other = analysis.cluster_channels(torch.eye(3))
    rejects("clusters", figures.similarity_heatmap_figure, results["similarity"], other)


@FIGURE_SETTINGS
@given(channels=st.one_of(st.none(), st.lists(st.integers(0, CHANNELS - 1), min_size=1, max_size=5)), limit=COUNTS)
def test_feature_map_grid_of_chosen_channels(results, channels, limit):
    figure = figures.feature_map_grid_figure(results["maps"][0], channels=channels, max_maps=limit)
    assert isinstance(figure, Figure)


@ARGUMENT_SETTINGS
@given(
    maps=bad_tensors(dims=(3,)),
    channels=st.one_of(st.just([]), st.lists(st.integers(CHANNELS, 20), min_size=1, max_size=2), st.just([1.5])),
    limit=NOT_POSITIVE_INTS,
    layer_name=NOT_STRINGS,
)
def test_feature_map_grid_rejects_bad_maps_and_options(results, maps, channels, limit, layer_name):
    image_maps = results["maps"][0]
    rejects("maps", figures.feature_map_grid_figure, maps)
    rejects("channels", figures.feature_map_grid_figure, image_maps, channels=channels)
    rejects("max_maps", figures.feature_map_grid_figure, image_maps, max_maps=limit)
    rejects("layer_name", figures.feature_map_grid_figure, image_maps, layer_name=layer_name)


@FIGURE_SETTINGS
@given(limit=COUNTS, with_names=st.booleans(), with_agreement=st.booleans())
def test_attribution_figures_with_random_options(results, limit, with_names, with_agreement):
    shown, first, second = results["images"], results["saliency"], results["grad_cam"]
    names = [f"class {k}" for k in range(4)] if with_names else None
    figure = figures.attribution_overlay_figure(shown, [first, second], max_images=limit, class_names=names)
    assert isinstance(figure, Figure)
    agreement = analysis.compare_attributions(first, second) if with_agreement else None
    figure = figures.attribution_comparison_figure(shown, first, second, agreement=agreement, max_images=limit)
    assert isinstance(figure, Figure)


@ARGUMENT_SETTINGS
@given(
    not_result=st.one_of(NOT_TENSORS.filter(lambda value: value is not None), st.just(torch.zeros(2, 6, 6))),
    shown=st.one_of(NOT_TENSORS, st.just(torch.zeros(3, 3, 6, 6)), st.just(torch.zeros(BATCH, 3, 5, 5))),
    limit=NOT_POSITIVE_INTS,
    model_names=st.sampled_from([None, 2, ("a",), ("a", "b", "c"), ("a", 2), "ab"]),
)
def test_attribution_figures_reject_bad_results_and_options(results, not_result, shown, limit, model_names):
    x, first, second = results["images"], results["saliency"], results["grad_cam"]
    overlay, comparison = figures.attribution_overlay_figure, figures.attribution_comparison_figure
    rejects("results", overlay, x, not_result)
    rejects("results[1]", overlay, x, [first, not_result])
    rejects("images", overlay, shown, [first])
    rejects("max_images", overlay, x, [first], max_images=limit)
    rejects("class_names", overlay, x, [first], class_names=["only one"] if int(first.targets.max()) > 0 else [])
    rejects("first", comparison, x, not_result, second)
    rejects("second", comparison, x, first, not_result)
    rejects("images", comparison, shown, first, second)
    rejects("max_images", comparison, x, first, second, max_images=limit)
    rejects("model_names", comparison, x, first, second, model_names=model_names)
    rejects("agreement", comparison, x, first, second, agreement=not_result)
    one_image = analysis.AttributionAgreement(torch.zeros(1), torch.zeros(1), 0.1)
    rejects("agreement is for 1 images", comparison, x, first, second, agreement=one_image)
