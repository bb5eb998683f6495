"""Arguments of the operator views: SPConv's split and its what-if, FLGC's groups, PEDConv's factors."""

from __future__ import annotations

import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import analysis
import slimconv

from .._arguments import ARGUMENT_SETTINGS, NOT_MODULES, NOT_POSITIVE_INTS, NOT_STRINGS, rejects
from ._arguments import bad_tensors, feature_maps
from ._models import images

WIDTHS = st.sampled_from([8, 16])
BATCHES = st.integers(1, 3)
SIDES = st.integers(3, 6)
OTHER_LAYERS = st.one_of(NOT_MODULES, st.just(nn.Conv2d(8, 8, 3)), st.just(nn.ReLU()))


def model_with(op: str, width: int = 8, **options) -> nn.Sequential:
    """A dense stem (3 -> width) and operator ``op`` as layer "1"."""
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), slimconv.create_conv(op, width, width, 3, **options))


@ARGUMENT_SETTINGS
@given(width=WIDTHS, alpha=st.sampled_from([0.25, 0.5, 1.0]), batch=BATCHES, side=SIDES)
def test_spconv_inspection_has_the_documented_shapes(width, alpha, batch, side):
    model = model_with("spconv", width, alpha=alpha).eval()
    inspection = analysis.inspect_spconv_in_model(model, "1", images(batch, side))
    representative = int(width * alpha)
    assert inspection.representative_channels.tolist() == list(range(representative))
    assert inspection.output.shape == inspection.redundant_output.shape == (batch, width, side, side)
    assert inspection.beta.shape == (batch, width) and torch.allclose(inspection.beta + inspection.gamma, torch.ones(1))
    direct = analysis.inspect_spconv(model[1], torch.randn(batch, width, side, side))
    assert direct.output.shape == (batch, width, side, side)


@ARGUMENT_SETTINGS
@given(layer=OTHER_LAYERS, layer_input=bad_tensors(dims=(3, 4)), channels=st.integers(1, 7))
def test_layer_inspections_reject_other_layers_and_inputs(layer, layer_input, channels):
    for op, inspect in (("spconv", analysis.inspect_spconv), ("pedconv", analysis.inspect_pedconv)):
        operator = slimconv.create_conv(op, 8, 8, 3)
        rejects("layer", inspect, layer, torch.randn(1, 8, 4, 4))
        rejects("layer_input", inspect, operator, layer_input)
        rejects("layer_input has", inspect, operator, torch.randn(1, channels, 4, 4))


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, layer_name=st.one_of(NOT_STRINGS, st.just("nope")), batch=bad_tensors(dims=(3, 4)))
def test_inspecting_in_a_model_rejects_bad_models_layers_and_images(model, layer_name, batch):
    for op, inspect in (("spconv", analysis.inspect_spconv_in_model), ("pedconv", analysis.inspect_pedconv_in_model)):
        rejects("model", inspect, model, "1", images(1, 4))
        rejects("layer", inspect, model_with(op), layer_name, images(1, 4))
        rejects("layer '0'", inspect, model_with(op), "0", images(1, 4))  # the dense stem
        rejects("images", inspect, model_with(op), "1", batch)


@ARGUMENT_SETTINGS
@given(maps=feature_maps(batch=(1, 2), channels=(2, 6), side=(3, 5)), alpha=st.floats(0.2, 1.0))
def test_split_what_if_scores_both_splits(maps, alpha):
    channels = maps.shape[1]
    assume(int(channels * alpha) >= 1)
    result = analysis.split_what_if(maps, alpha)
    for split in (result.positional, result.by_similarity):
        assert len(split.representative_channels) + len(split.redundant_channels) == channels
        assert 0 <= split.variance_kept_share <= 1 + 1e-9
    assert 0 < result.chance_r2 < 1


@ARGUMENT_SETTINGS
@given(
    layer_input=bad_tensors(dims=(3, 4)),
    alpha=st.one_of(st.floats(max_value=0), st.floats(min_value=1.001), st.just(float("nan")), st.text(max_size=2)),
    metric=st.text(max_size=6).filter(lambda metric: metric not in analysis.METRICS),
)
def test_split_what_if_rejects_bad_inputs_and_options(layer_input, alpha, metric):
    rejects("layer_input", analysis.split_what_if, layer_input)
    rejects("alpha", analysis.split_what_if, torch.randn(2, 4, 4, 4), alpha)
    rejects("alpha", analysis.split_what_if, torch.randn(2, 4, 4, 4), 0.2)  # no representative channel of 4
    rejects("positions", analysis.split_what_if, torch.randn(1, 8, 1, 2), 0.5)  # 2 positions for 4 channels
    rejects("metric", analysis.split_what_if, torch.randn(2, 4, 4, 4), metric=metric)


@ARGUMENT_SETTINGS
@given(groups=st.integers(1, 4), data=st.data())
def test_group_structure_of_random_labels(groups, data):
    labels = st.lists(st.integers(0, groups - 1), min_size=1, max_size=8)
    channel_groups, filter_groups = data.draw(labels), data.draw(labels)
    structure = analysis.group_structure(torch.tensor(channel_groups), filter_groups, groups)
    assert structure.mask.shape == (len(filter_groups), len(channel_groups))
    assert int(structure.channels_per_group.sum()) == len(channel_groups)
    assert sorted(structure.channel_order.tolist()) == list(range(len(channel_groups)))


@ARGUMENT_SETTINGS
@given(
    labels=st.one_of(
        st.sampled_from([[], [[0, 1]], [0.5, 1.0], [True], "01", None]),
        st.lists(st.one_of(st.integers(2, 9), st.integers(max_value=-1)), min_size=1, max_size=3),  # 2 groups
    ),
    groups=NOT_POSITIVE_INTS,
)
def test_group_structure_rejects_bad_labels_and_group_counts(labels, groups):
    rejects("channel_groups", analysis.group_structure, labels, [0, 1], 2)
    rejects("filter_groups", analysis.group_structure, [0, 1], labels, 2)
    rejects("num_groups", analysis.group_structure, [0], [0], groups)


@ARGUMENT_SETTINGS
@given(groups=st.sampled_from([1, 2, 4]), as_state_dict=st.booleans())
def test_flgc_inspection_and_switches(groups, as_state_dict):
    before = slimconv.create_conv("flgc", 8, 8, 1, groups=groups)
    after = slimconv.create_conv("flgc", 8, 8, 1, groups=groups)
    inspection = analysis.inspect_flgc(after)
    assert inspection.groups.num_groups == groups
    assert inspection.grouped_macs_per_position <= inspection.dense_macs_per_position
    template = after if as_state_dict else None
    checkpoint = before.state_dict() if as_state_dict else before
    switches = analysis.flgc_switches(checkpoint, after, template=template)
    assert switches.channel_transitions.shape == (groups, groups) and 0 <= switches.switched_channel_share <= 1


@ARGUMENT_SETTINGS
@given(layer=OTHER_LAYERS, groups=st.sampled_from([2, 4]))
def test_flgc_views_reject_other_layers_and_mismatched_checkpoints(layer, groups):
    flgc = slimconv.create_conv("flgc", 8, 8, 1, groups=groups)
    other = slimconv.create_conv("flgc", 8, 8, 1, groups=2 * groups)
    rejects("layer", analysis.inspect_flgc, layer)
    rejects("before", analysis.flgc_switches, layer, flgc)
    rejects("after", analysis.flgc_switches, flgc, layer)
    rejects("template", analysis.flgc_switches, flgc.state_dict(), flgc)
    rejects("template", analysis.flgc_switches, flgc.state_dict(), flgc, template=layer)
    rejects("before", analysis.flgc_switches, other.state_dict(), flgc, template=flgc)
    rejects("checkpoints differ", analysis.flgc_switches, other, flgc)


@ARGUMENT_SETTINGS
@given(width=WIDTHS, rank=st.integers(1, 3), batch=BATCHES, side=SIDES)
def test_pedconv_inspection_has_the_documented_shapes(width, rank, batch, side):
    model = model_with("pedconv", width, rank=rank).eval()
    inspection = analysis.inspect_pedconv_in_model(model, "1", images(batch, side))
    assert inspection.gamma.shape == (batch, rank, width) and inspection.psi.shape == (batch, rank, 9)
    assert inspection.phi_std_over_images.shape == (rank, width) and inspection.rank == rank
    assert bool(((inspection.gamma > 0) & (inspection.gamma < 1)).all())



def test_image_dependence_finds_the_layer_that_adapts():
    model = model_with("pedconv").append(slimconv.create_conv("pedconv", 8, 8, 3)).eval()
    flat = analysis.pedconv_image_dependence(model, images(3, 6))
    assert list(flat) == ["1", "2"] and max(flat.values()) < 1e-4  # fresh layers: factors near sigmoid(0)
    generator = torch.Generator().manual_seed(0)
    hidden, _, logits = model[2].generator
    with torch.no_grad():  # make layer "2"'s generator respond to its input (bias 1: the ReLU passes)
        hidden.weight.copy_(torch.randn(hidden.weight.shape, generator=generator))
        hidden.bias.fill_(1.0)
        logits.weight.copy_(torch.randn(logits.weight.shape, generator=generator))
    distinct = images(3, 6) + torch.tensor([-2.0, 0.0, 2.0]).view(3, 1, 1, 1)  # dark, mid, bright
    spread = analysis.pedconv_image_dependence(model, distinct)
    assert spread["2"] > 1e-2 > 1e-4 > spread["1"]
    assert max(analysis.pedconv_image_dependence(model, images(1, 6)).values()) == 0.0  # one image: no spread


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, batch=bad_tensors(dims=(3, 4)))
def test_image_dependence_rejects_bad_models_and_images(model, batch):
    twice = model_with("pedconv")
    twice.append(twice[1])  # the same PEDConv layer runs twice
    for inspect in (analysis.pedconv_image_dependence, analysis.inspect_pedconv_layers):
        rejects("model", inspect, model, images(1, 4))
        rejects("no PEDConv layer", inspect, nn.Sequential(nn.Conv2d(3, 8, 3)), images(1, 4))
        rejects("images", inspect, model_with("pedconv"), batch)
        rejects("ran twice", inspect, twice, images(1, 4))


def test_every_pedconv_layer_is_inspected_in_one_pass():
    model = model_with("pedconv").append(slimconv.create_conv("pedconv", 8, 8, 3)).eval()
    found = analysis.inspect_pedconv_layers(model, images(3, 6))
    assert list(found) == ["1", "2"]
    alone = analysis.inspect_pedconv_in_model(model, "2", images(3, 6))
    assert torch.equal(found["2"].gamma, alone.gamma) and torch.equal(found["2"].psi, alone.psi)
    assert analysis.pedconv_image_dependence(model, images(3, 6)) == {n: i.image_dependence for n, i in found.items()}
