"""The battery every registered operator must pass: a new operator gets it for free."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import slimconv
from slimconv.ops import SlimConv2d

from ._helpers import float64_reference, max_relative_error, perturb

OPS = slimconv.list_ops()

# (in, out, kernel, stride, batch, height, width): odd sizes, stride 2 and 3, batch 1, tiny maps.
CONFIGS = [
    (16, 16, 3, 1, 2, 8, 8),
    (16, 32, 3, 2, 2, 9, 7),
    (8, 24, 3, 2, 1, 7, 7),
    (16, 16, 1, 1, 3, 5, 5),
    (16, 8, 1, 2, 2, 5, 6),
    (16, 16, 5, 2, 2, 11, 10),
    (32, 16, 3, 3, 1, 10, 11),
    (16, 16, 3, 2, 1, 1, 1),
]
CONFIG_IDS = [f"{c[0]}-{c[1]}-k{c[2]}-s{c[3]}-b{c[4]}-{c[5]}x{c[6]}" for c in CONFIGS]


def build(op: str, cin: int, cout: int, k: int, s: int, **options) -> SlimConv2d:
    return slimconv.create_conv(op, cin, cout, k, s, **options)


def reference_shape(cin, cout, k, s, b, h, w) -> torch.Size:
    conv = nn.Conv2d(cin, cout, k, s, padding=k // 2, device="meta")
    return conv(torch.empty(b, cin, h, w, device="meta")).shape


def test_registry_is_populated():
    assert {"spconv", "linearconv", "flgc", "pedconv", "ghost", "hetconv", "octconv"} <= set(OPS)


@pytest.mark.parametrize("op", OPS)
def test_create_conv_returns_registered_class(op):
    layer = build(op, 16, 16, 3, 1)
    assert isinstance(layer, slimconv.get_op(op))
    assert isinstance(layer, SlimConv2d)
    assert (layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding) == (16, 16, 3, 1, 1)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_output_shape_matches_conv2d(op, config, mode):
    cin, cout, k, s, b, h, w = config
    layer = build(op, cin, cout, k, s).train(mode == "train")
    out = layer(torch.randn(b, cin, h, w))
    assert out.shape == reference_shape(*config)
    assert layer.output_size(h, w) == tuple(out.shape[-2:])
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("config", CONFIGS[:3], ids=CONFIG_IDS[:3])
@pytest.mark.parametrize("op", OPS)
def test_eval_and_deploy_match_float64_reference(op, config):
    cin, cout, k, s, b, h, w = config
    layer = perturb(build(op, cin, cout, k, s)).eval()
    x = torch.randn(b, cin, h, w)
    ref = float64_reference(layer, x)
    deployed = layer.fuse().eval()
    assert deployed is not layer
    with torch.no_grad():
        assert max_relative_error(layer(x), ref) <= 1e-5
        assert max_relative_error(deployed(x), ref) <= 1e-5


@pytest.mark.parametrize("op", OPS)
def test_fuse_does_not_change_the_layer(op):
    layer = perturb(build(op, 16, 16, 3, 1)).eval()
    before = copy.deepcopy(layer.state_dict())
    layer.fuse()
    after = layer.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("op", OPS)
def test_channels_last_input_gives_the_same_output(op):
    layer = perturb(build(op, 16, 32, 3, 2)).eval()
    x = torch.randn(2, 16, 9, 9)
    with torch.no_grad():
        ref = layer(x)
        out = layer(x.to(memory_format=torch.channels_last))
        deployed = layer.fuse().eval()
        out_deployed = deployed(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_deployed, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", OPS)
def test_samples_of_a_batch_are_independent_in_eval(op):
    layer = perturb(build(op, 16, 16, 3, 2)).eval()
    x = torch.randn(5, 16, 7, 7)
    with torch.no_grad():
        whole = layer(x)
        one_by_one = torch.cat([layer(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(whole, one_by_one, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", OPS)
def test_backward_reaches_input_and_every_inference_parameter(op):
    layer = perturb(build(op, 16, 16, 3, 2)).train()
    x = torch.randn(2, 16, 9, 9, requires_grad=True)
    layer(x).square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    training_only = {id(p) for p in layer.training_only_parameters()}
    for name, p in layer.named_parameters():
        if id(p) in training_only or not p.requires_grad:
            continue
        assert p.grad is not None, f"{op}: no gradient for {name}"
        assert torch.isfinite(p.grad).all(), f"{op}: non-finite gradient for {name}"


@pytest.mark.parametrize("op", OPS)
def test_state_dict_round_trip(op):
    torch.manual_seed(1)
    source = perturb(build(op, 16, 24, 3, 1)).eval()
    torch.manual_seed(2)
    target = build(op, 16, 24, 3, 1).eval()
    target.load_state_dict(source.state_dict())
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


@pytest.mark.parametrize("op", OPS)
def test_device_and_dtype_arguments(op):
    layer = slimconv.get_op(op)(16, 16, 3, dtype=torch.float64, device="cpu")
    assert all(t.dtype == torch.float64 for t in layer.parameters())
    out = layer.eval()(torch.randn(1, 16, 5, 5, dtype=torch.float64))
    assert out.dtype == torch.float64


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    "arguments",
    [
        dict(in_channels=0, out_channels=16, kernel_size=3),
        dict(in_channels=16, out_channels=-1, kernel_size=3),
        dict(in_channels=16, out_channels=16, kernel_size=0),
        dict(in_channels=16, out_channels=16, kernel_size=(3, 5)),
        dict(in_channels=16, out_channels=16, kernel_size=3, stride=0),
        dict(in_channels=16, out_channels=16, kernel_size=3, padding=-1),
        dict(in_channels=16.0, out_channels=16, kernel_size=3),
    ],
)
def test_bad_arguments_raise_value_error(op, arguments):
    with pytest.raises(ValueError, match=r"in_channels|out_channels|kernel_size|stride|padding"):
        slimconv.get_op(op)(**arguments)


@pytest.mark.parametrize("op", OPS)
def test_non_boolean_bias_is_a_value_error(op):
    with pytest.raises(ValueError, match="bias must be True or False"):
        build(op, 16, 16, 3, 1, bias="yes")


@pytest.mark.parametrize("op", OPS)
def test_unknown_option_is_a_type_error(op):
    with pytest.raises(TypeError):
        build(op, 16, 16, 3, 1, no_such_option=1)


@pytest.mark.parametrize("op", OPS)
def test_from_conv_keeps_geometry_and_device(op):
    conv = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=True)
    layer = slimconv.get_op(op).from_conv(conv)
    assert (layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding) == (16, 32, 3, 2, 1)
    x = torch.randn(1, 16, 9, 9)
    assert layer.eval()(x).shape == conv(x).shape


@pytest.mark.parametrize("op", OPS)
def test_dilated_conv_is_reported_unsupported(op):
    conv = nn.Conv2d(16, 16, 3, padding=2, dilation=2)
    reason = slimconv.get_op(op).unsupported_reason(conv)
    assert reason and "dilation" in reason


@pytest.mark.parametrize("op", OPS)
@settings(max_examples=15, deadline=None)
@given(
    cin=st.sampled_from([8, 16, 24, 40]),
    cout=st.sampled_from([8, 16, 32, 48]),
    k=st.sampled_from([1, 3, 5]),
    s=st.integers(1, 3),
    b=st.integers(1, 3),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
)
def test_random_valid_configurations_match_conv2d_shape(op, cin, cout, k, s, b, h, w):
    layer = build(op, cin, cout, k, s).eval()
    out = layer(torch.randn(b, cin, h, w))
    assert out.shape == reference_shape(cin, cout, k, s, b, h, w)
    deployed = layer.fuse().eval()
    with torch.no_grad():
        assert deployed(torch.randn(b, cin, h, w)).shape == out.shape
