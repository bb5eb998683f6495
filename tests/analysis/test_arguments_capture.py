"""Arguments of running a model for analysis: hooks, activation capture, the network redundancy report."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

import analysis

from .._arguments import (
    ARGUMENT_SETTINGS,
    NOT_BOOLEANS,
    NOT_MODULES,
    NOT_POSITIVE_INTS,
    NOT_STRINGS,
    NOT_UNIT_FRACTIONS,
    rejects,
    wrong,
)
from ._arguments import NOT_TENSORS, bad_tensors, feature_maps
from ._models import TinyNet, images

LAYERS = ["conv1", "bn1", "relu1", "conv2", "relu2", "fc"]
LAYER_CHOICES = st.lists(st.sampled_from(LAYERS), min_size=1, max_size=3, unique=True)
NOT_LAYER_LISTS = st.one_of(st.none(), st.integers(), st.just([]), st.lists(NOT_STRINGS, min_size=1, max_size=2))
UNKNOWN_LAYERS = st.text(min_size=1, max_size=6).filter(lambda name: name not in dict(TinyNet().named_modules()))
BATCHES = st.integers(1, 3)
SIDES = st.integers(4, 9)


@ARGUMENT_SETTINGS
@given(layers=LAYER_CHOICES, batch=BATCHES, side=SIDES, of=st.sampled_from(["output", "input"]), grads=st.booleans())
def test_capture_keeps_what_every_named_layer_saw(layers, batch, side, of, grads):
    model = TinyNet()
    with_gradients = grads and of == "output"
    captured = analysis.capture_activations(
        model, images(batch, side), layers, of=of, with_gradients=with_gradients, target=0 if grads else None
    )
    assert list(captured.activations) == layers and captured.of == of
    assert all(maps.shape[0] == batch for maps in captured.activations.values())
    assert captured.output.shape == (batch, 4) and analysis.attached_hook_count(model) == 0
    assert sorted(captured.gradients) == (sorted(layers) if with_gradients else [])
    assert not any(captured.was_subsampled(name) for name in layers)


NOT_TARGETS = st.sampled_from([1.5, "cat", [0.5, 1.0], True, torch.tensor([0.2, 0.9]), 4, -1])  # 4 classes
BAD_CAPTURE_ARGUMENTS = st.one_of(
    wrong("of", st.text(max_size=6).filter(lambda of: of not in {"output", "input"})),
    wrong("with_gradients", NOT_BOOLEANS),
    wrong("use_eval_mode", NOT_BOOLEANS),
    wrong("max_values_per_image", NOT_POSITIVE_INTS),
    wrong("target", NOT_TARGETS).map(lambda bad: (bad[0], {**bad[1], "with_gradients": True})),
)


@ARGUMENT_SETTINGS
@given(bad=BAD_CAPTURE_ARGUMENTS)
def test_capture_rejects_each_bad_option(bad):
    argument, options = bad
    model = TinyNet()
    rejects(argument, analysis.capture_activations, model, images(2, 6), ["conv1"], **options)
    assert analysis.attached_hook_count(model) == 0


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, batch=bad_tensors(dims=(3, 4)), layer_names=NOT_LAYER_LISTS, unknown=UNKNOWN_LAYERS)
def test_capture_rejects_bad_models_images_and_layer_names(model, batch, layer_names, unknown):
    rejects("model", analysis.capture_activations, model, images(2, 6), ["conv1"])
    rejects("images", analysis.capture_activations, TinyNet(), batch, ["conv1"])
    rejects("layer_names", analysis.capture_activations, TinyNet(), images(2, 6), layer_names)
    rejects(repr(unknown), analysis.capture_activations, TinyNet(), images(2, 6), [unknown])
    rejects("images have 1 channels", analysis.capture_activations, TinyNet(), torch.randn(2, 1, 6, 6), ["conv1"])


def test_was_subsampled_names_only_captured_layers():
    captured = analysis.capture_activations(TinyNet(), images(1, 6), ["conv1"])
    rejects("name", captured.was_subsampled, "conv2")


@ARGUMENT_SETTINGS
@given(maps=feature_maps(channels=(1, 4), side=(1, 9)), limit=st.integers(1, 200))
def test_bound_map_size_keeps_channels_and_respects_the_bound(maps, limit):
    channels = maps.shape[1]
    if channels > limit:
        rejects("max_values_per_image", analysis.bound_map_size, maps, limit)
        return
    bounded = analysis.bound_map_size(maps, limit)
    assert bounded.shape[:2] == maps.shape[:2]
    assert bounded[0].numel() <= limit or bounded is maps


@ARGUMENT_SETTINGS
@given(maps=NOT_TENSORS, limit=NOT_POSITIVE_INTS)
def test_bound_map_size_rejects_bad_maps_and_limits(maps, limit):
    rejects("maps", analysis.bound_map_size, maps)
    rejects("max_values_per_image", analysis.bound_map_size, torch.randn(1, 2, 3, 3), limit)


@ARGUMENT_SETTINGS
@given(layers=st.one_of(LAYER_CHOICES, st.sampled_from(LAYERS)))
def test_hooks_resolve_names_and_are_removed(layers):
    model = TinyNet()
    assert analysis.conv_layer_names(model) == ["conv1", "conv2"]
    names = [layers] if isinstance(layers, str) else layers
    assert list(analysis.resolve_layers(model, layers)) == names
    seen: list[str] = []
    with analysis.hook_guard(model), analysis.layer_hooks(model, layers, lambda name, _: seen.append(name)):
        assert analysis.attached_hook_count(model) == len(names)
        model(images(1, 5))
    assert sorted(seen) == sorted(names) and analysis.attached_hook_count(model) == 0


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, layer_names=NOT_LAYER_LISTS, unknown=UNKNOWN_LAYERS)
def test_hook_functions_reject_bad_models_and_layer_names(model, layer_names, unknown):
    for function in (analysis.conv_layer_names, analysis.attached_hook_count):
        rejects("model", function, model)
    rejects("model", analysis.resolve_layers, model, ["conv1"])
    rejects("layer_names", analysis.resolve_layers, TinyNet(), layer_names)
    rejects(repr(unknown), analysis.resolve_layers, TinyNet(), [unknown])
    rejects("twice", analysis.resolve_layers, TinyNet(), ["conv1", "conv1"])
    with_model = analysis.hook_guard(model)
    rejects("model", with_model.__enter__)


@ARGUMENT_SETTINGS
@given(callback=st.one_of(st.none(), st.integers(), st.text(max_size=3)), of=st.text(max_size=5))
def test_layer_hooks_reject_bad_callbacks_and_sides(callback, of):
    rejects("callback", analysis.layer_hooks(TinyNet(), ["conv1"], callback).__enter__)
    if of not in {"output", "input"}:
        rejects("of", analysis.layer_hooks(TinyNet(), ["conv1"], lambda *_: None, of=of).__enter__)


@ARGUMENT_SETTINGS
@given(batch=BATCHES, side=SIDES, metric=st.sampled_from(analysis.METRICS), threshold=st.floats(0, 1))
def test_redundancy_report_scores_every_convolution(batch, side, metric, threshold):
    model = TinyNet()
    report = analysis.redundancy_report(model, images(batch, side), metric=metric, threshold=threshold)
    assert report.layer_names == ["conv1", "conv2"] and report.num_images == batch
    assert report.map_sizes == [(side, side)] * 2 and analysis.attached_hook_count(model) == 0
    shares = report.column("similar_pair_share")
    assert shares.shape == (2,) and bool(((shares >= 0) & (shares <= 1)).all())
    assert len(report.to_rows()) == 2


BAD_REPORT_ARGUMENTS = st.one_of(
    wrong("metric", st.text(max_size=6).filter(lambda metric: metric not in analysis.METRICS)),
    wrong("threshold", NOT_UNIT_FRACTIONS),
    wrong("max_values_per_image", NOT_POSITIVE_INTS),
    wrong("progress", st.sampled_from([1, "tqdm", [print]])),
    wrong("layer_names", NOT_LAYER_LISTS.filter(lambda names: names is not None)),  # None: every convolution
)


@ARGUMENT_SETTINGS
@given(bad=BAD_REPORT_ARGUMENTS, model=NOT_MODULES, batch=bad_tensors(dims=(3, 4)))
def test_redundancy_report_rejects_each_bad_argument(bad, model, batch):
    argument, options = bad
    rejects(argument, analysis.redundancy_report, TinyNet(), images(2, 6), **options)
    rejects("model", analysis.redundancy_report, model, images(2, 6))
    rejects("images", analysis.redundancy_report, TinyNet(), batch)
    report = analysis.redundancy_report(TinyNet(), images(1, 5))
    rejects("score_name", report.column, "accuracy")
