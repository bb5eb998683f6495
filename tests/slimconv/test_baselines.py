"""Ghost, HetConv and OctConv: check values of docs/operators.md, naive references, counts, options."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import slimconv
from slimconv.ops.ghost import GhostConv2d, GhostDeployed
from slimconv.ops.hetconv import HetConv2d, HetConvDeployed
from slimconv.ops.octconv import OctConv2d, OctConvDeployed

from ._helpers import perturb


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass (FlopCounterMode counts 2 FLOPs per MAC)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


def dense_macs(cin: int, cout: int, k: int, out_h: int, out_w: int, batch: int = 1) -> int:
    return batch * out_h * out_w * cout * cin * k * k


# ------------------------------------------------------------------------------------- Ghost


@pytest.mark.parametrize(
    "cin, cout, k, ratio, d", [(64, 64, 3, 2, 3), (16, 24, 1, 3, 5), (32, 16, 5, 4, 1), (8, 10, 3, 3, 3)]
)
def test_ghost_parameter_count(cin, cout, k, ratio, d):
    m = math.ceil(cout / ratio)
    layer = GhostConv2d(cin, cout, k, ratio=ratio, dw_size=d)
    assert layer.primary_channels == m
    assert n_params(layer) == cin * k * k * m + (ratio - 1) * m * d * d
    assert n_params(GhostConv2d(cin, cout, k, bias=True, ratio=ratio, dw_size=d)) == n_params(layer) + cout


def test_ghost_check_value_64_to_64():
    # m = 32: 64 * 9 * 32 + 32 * 9 = 18,720 (a 3x3 conv has 36,864)
    assert n_params(GhostConv2d(64, 64, 3)) == 18_720


def ghost_reference(layer: GhostConv2d, x: torch.Tensor) -> torch.Tensor:
    primary = F.conv2d(x, layer.primary.weight, None, layer.stride, layer.padding)
    ghosts = F.conv2d(primary, layer.cheap.weight, None, 1, layer.dw_size // 2, groups=layer.primary_channels)
    out = torch.cat([primary, ghosts], 1)[:, : layer.out_channels]
    return out + layer.bias[:, None, None] if layer.bias is not None else out


@pytest.mark.parametrize(
    "cin, cout, k, s, ratio, d, bias",
    [(16, 16, 3, 1, 2, 3, False), (16, 16, 3, 2, 3, 3, True), (8, 24, 5, 3, 4, 5, True), (16, 8, 1, 1, 5, 1, False)],
)
def test_ghost_matches_reference_and_deploy_trims_dropped_ghosts(cin, cout, k, s, ratio, d, bias):
    layer = perturb(GhostConv2d(cin, cout, k, s, bias=bias, ratio=ratio, dw_size=d)).double().eval()
    x = torch.randn(2, cin, 9, 8, dtype=torch.float64)
    deployed = layer.fuse()
    assert isinstance(deployed, GhostDeployed)
    with torch.no_grad():
        ref = ghost_reference(layer, x)
        torch.testing.assert_close(layer(x), ref)
        torch.testing.assert_close(deployed(x), ref)
    # only ghosts that survive the cut are computed: ceil((N - m) / (s - 1)) primary maps feed them
    m = layer.primary_channels
    used = math.ceil((cout - m) / (ratio - 1))
    assert deployed.cheap.in_channels == used
    assert deployed.cheap.out_channels == used * (ratio - 1) < (ratio - 1) * m + ratio - 1
    out_h, out_w = ref.shape[-2:]
    assert conv_macs(deployed, x) == 2 * out_h * out_w * (cin * k * k * m + used * (ratio - 1) * d * d)


def test_ghost_deploy_without_any_kept_ghost_is_the_primary_conv():
    layer = perturb(GhostConv2d(8, 1, 3, bias=True)).eval()  # m = 1 = N: the ghost is dropped
    deployed = layer.fuse()
    assert deployed.cheap is None
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), layer(x))


def test_ghost_training_form_gives_every_parameter_a_gradient():
    layer = GhostConv2d(8, 10, 3, bias=True, ratio=3)  # 12 ghost kernels, 6 ghosts kept
    layer(torch.randn(2, 8, 6, 6)).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    assert layer.cheap.weight.grad[6:].abs().sum() == 0  # dropped ghosts do not reach the output


def test_ghost_inherits_primaries_exactly():
    conv = nn.Conv2d(16, 32, 3, padding=1, bias=True)
    layer = GhostConv2d.from_conv(conv).eval()
    x = torch.randn(2, 16, 7, 7)
    m = layer.primary_channels
    with torch.no_grad():
        torch.testing.assert_close(layer(x)[:, :m], conv(x)[:, :m])
    torch.testing.assert_close(layer.bias, conv.bias)


@pytest.mark.parametrize("stride, ratio", [(1, 2), (1, 3), (2, 2)])
def test_ghost_inherit_recovers_cheap_kernels_of_a_ghost_shaped_dense_conv(stride, ratio):
    # A dense 5x5 conv whose filters past m are exactly primary (*) stride-dilated d x d kernels:
    # primaries supported where the composition still fits in 5x5, so the fit must find the kernels.
    cin, cout, k, d = 8, 12, 5, 3
    m = math.ceil(cout / ratio)
    support = 5 - 2 * stride  # 3 at stride 1, 1 at stride 2
    lo = (k - support) // 2
    primary = torch.zeros(m, cin, k, k, dtype=torch.float64)
    primary[..., lo : lo + support, lo : lo + support] = torch.randn(m, cin, support, support, dtype=torch.float64)
    cheap = torch.randn(cout - m, 1, d, d, dtype=torch.float64)
    ghosts = []
    for j in range(cout - m):
        canvas = torch.zeros(cin, k + 2 * stride, k + 2 * stride, dtype=torch.float64)
        for ty in range(d):
            for tx in range(d):
                canvas[:, stride * ty : stride * ty + k, stride * tx : stride * tx + k] += (
                    cheap[j, 0, ty, tx] * primary[j // (ratio - 1)]
                )
        ghosts.append(canvas[:, stride : stride + k, stride : stride + k])
        assert canvas.abs().sum() == pytest.approx(ghosts[-1].abs().sum())  # nothing cut off
    conv = nn.Conv2d(cin, cout, k, stride, padding=2, bias=False, dtype=torch.float64)
    with torch.no_grad():
        conv.weight.copy_(torch.cat([primary, torch.stack(ghosts)]))
    layer = GhostConv2d.from_conv(conv, ratio=ratio, dw_size=d)
    torch.testing.assert_close(layer.cheap.weight[: cout - m], cheap)


@pytest.mark.parametrize(
    "options, name",
    [
        (dict(ratio=1), "ratio"),
        (dict(ratio=2.0), "ratio"),
        (dict(ratio=True), "ratio"),
        (dict(dw_size=2), "dw_size"),
        (dict(dw_size=0), "dw_size"),
    ],
)
def test_ghost_bad_options_raise_value_error(options, name):
    with pytest.raises(ValueError, match=name):
        GhostConv2d(16, 16, 3, **options)


# ----------------------------------------------------------------------------------- HetConv


def het_dense_reference(layer: HetConv2d) -> torch.Tensor:
    """The equivalent dense weight, written out filter by filter from the paper's pattern."""
    n, c, k, p = layer.out_channels, layer.in_channels, layer.kernel_size, layer.part
    dense = torch.zeros(n, c, k, k, dtype=layer.weight.dtype)
    for f in range(n):
        big = [ch for ch in range(c) if (ch - f) % p == 0]
        small = [ch for ch in range(c) if (ch - f) % p != 0]
        dense[f, big] = layer.weight[f]
        if small:
            dense[f, small, k // 2, k // 2] = layer.weight_pointwise[f]
    return dense


def test_hetconv_pattern_shifts_by_one_channel_per_filter():
    layer = HetConv2d(16, 12, 3, part=4)
    mask = layer.mask
    assert mask.shape == (12, 16) and mask.dtype == torch.bool
    assert (mask.sum(1) == 16 // 4).all()
    for f in range(11):
        assert torch.equal(mask[f + 1], mask[f].roll(1))
    assert mask[0].nonzero().flatten().tolist() == [0, 4, 8, 12]
    assert "mask" in dict(layer.named_buffers()) and "mask" not in dict(layer.named_parameters())


@pytest.mark.parametrize(
    "cin, cout, k, part", [(64, 64, 3, 4), (32, 16, 5, 8), (16, 24, 3, 2), (8, 8, 1, 4), (16, 16, 3, 1)]
)
def test_hetconv_parameter_count_and_cost_ratio(cin, cout, k, part):
    layer = HetConv2d(cin, cout, k, part=part)
    assert n_params(layer) == cout * (cin // part * k * k + cin - cin // part)
    ratio = n_params(layer) / (cout * cin * k * k)
    assert ratio == pytest.approx(1 / part + (1 - 1 / part) / k**2)
    assert n_params(HetConv2d(cin, cout, k, bias=True, part=part)) == n_params(layer) + cout


def test_hetconv_check_value_64_to_64():
    # 64 * (16 * 9 + 48) = 12,288: a third of the 36,864 of a 3x3 conv
    assert n_params(HetConv2d(64, 64, 3)) == 12_288


@pytest.mark.parametrize(
    "cin, cout, k, s, part, bias",
    [(16, 16, 3, 1, 4, False), (16, 32, 3, 2, 4, True), (24, 8, 5, 3, 2, True), (8, 16, 3, 1, 8, False)],
)
def test_hetconv_equals_the_masked_dense_conv(cin, cout, k, s, part, bias):
    layer = perturb(HetConv2d(cin, cout, k, s, bias=bias, part=part)).double().eval()
    x = torch.randn(2, cin, 9, 10, dtype=torch.float64)
    dense = het_dense_reference(layer)
    torch.testing.assert_close(layer.dense_weight(), dense)
    ref = F.conv2d(x, dense, layer.bias, s, k // 2)
    deployed = layer.fuse()
    assert isinstance(deployed, HetConvDeployed)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), ref)
        torch.testing.assert_close(deployed(x), ref)


def test_hetconv_deploy_macs():
    cin, cout, k, part = 64, 64, 3, 4
    x = torch.randn(1, cin, 32, 32)
    layer = HetConv2d(cin, cout, k, part=part)
    dense = dense_macs(cin, cout, k, 32, 32)
    macs = conv_macs(layer.fuse(), x)
    # the P-group k x k conv plus the dense 1 x 1 conv, whose N C / P zero entries are the only
    # MACs beyond the paper's cost ratio 1/P + (1 - 1/P)/k^2 (which the parameter count meets)
    zero_block = 32 * 32 * cout * cin // part
    assert macs == 32 * 32 * cout * (cin // part * k * k + cin)
    assert macs - zero_block == pytest.approx(dense * (1 / part + (1 - 1 / part) / k**2))


@pytest.mark.parametrize("k, part", [(1, 4), (3, 1)])
def test_hetconv_degenerate_cases_deploy_to_a_plain_conv(k, part):
    layer = perturb(HetConv2d(16, 16, k, bias=True, part=part)).eval()
    deployed = layer.fuse()
    assert type(deployed) is nn.Conv2d
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), layer(x), rtol=1e-5, atol=1e-5)


def test_hetconv_inherits_the_taps_on_its_pattern():
    conv = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=True)
    layer = HetConv2d.from_conv(conv)
    keep = layer.mask[:, :, None, None].expand(-1, -1, 3, 3).clone()
    keep[:, :, 1, 1] = True
    torch.testing.assert_close(layer.dense_weight(), conv.weight * keep)
    torch.testing.assert_close(layer.bias, conv.bias)


@pytest.mark.parametrize(
    "arguments, name",
    [
        (dict(in_channels=16, out_channels=16, kernel_size=3, part=0), "part"),
        (dict(in_channels=16, out_channels=16, kernel_size=3, part=3), "in_channels"),
        (dict(in_channels=16, out_channels=18, kernel_size=3, part=4), "out_channels"),
        (dict(in_channels=16, out_channels=16, kernel_size=3, part=2.0), "part"),
        (dict(in_channels=16, out_channels=16, kernel_size=4), "kernel_size"),
        (dict(in_channels=16, out_channels=16, kernel_size=3, padding=0), "padding"),
    ],
)
def test_hetconv_bad_options_raise_value_error(arguments, name):
    with pytest.raises(ValueError, match=name):
        HetConv2d(**arguments)


# ----------------------------------------------------------------------------------- OctConv


def avg_pool(x: torch.Tensor, r: int) -> torch.Tensor:
    """r x r average over the valid pixels of each (possibly partial) window, written out."""
    if r == 1:
        return x
    h, w = x.shape[-2:]
    rows = [x[..., i : i + r, :].mean(-2, keepdim=True) for i in range(0, h, r)]
    x = torch.cat(rows, -2)
    return torch.cat([x[..., j : j + r].mean(-1, keepdim=True) for j in range(0, w, r)], -1)


def upsample(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return x.repeat_interleave(2, -2).repeat_interleave(2, -1)[..., :h, :w]


def octconv_reference(layer: OctConv2d, x: torch.Tensor) -> torch.Tensor:
    """The four paths one by one, as the docstring (and the paper's code for stride 2) define them."""
    ch, nh = layer.in_channels - layer.low_in, layer.out_channels - layer.low_out
    s, p, w = layer.stride, layer.padding, layer.weight
    x_h, x_l = x[:, :ch], x[:, ch:]
    conv = lambda t, weight: F.conv2d(t, weight, None, 1, p)
    hh = conv(avg_pool(x_h, s), w[:nh, :ch])
    out_h, out_w = hh.shape[-2:]
    hl = conv(avg_pool(x_h, 2 * s), w[nh:, :ch])
    ll = conv(avg_pool(x_l, 2 * s), w[nh:, ch:])
    if s % 2 == 0:
        lh = conv(avg_pool(x_l, s), w[:nh, ch:])
    else:
        lh = upsample(conv(avg_pool(x_l, 2 * s), w[:nh, ch:]), out_h, out_w)
    out = torch.cat([hh + lh, upsample(hl + ll, out_h, out_w)], 1)
    return out + layer.bias[:, None, None] if layer.bias is not None else out


def test_octconv_reference_pooling_matches_ceil_mode_pooling():
    x = torch.randn(1, 2, 7, 9, dtype=torch.float64)
    for r in (2, 3, 4, 6):
        torch.testing.assert_close(F.avg_pool2d(x, r, ceil_mode=True, count_include_pad=False), avg_pool(x, r))


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
@pytest.mark.parametrize("s, h, w", [(1, 8, 8), (1, 7, 5), (2, 8, 12), (2, 9, 7), (3, 11, 10), (4, 13, 9)])
def test_octconv_matches_the_four_path_reference(alpha, s, h, w):
    layer = perturb(OctConv2d(16, 24, 3, s, bias=True, alpha=alpha)).double().eval()
    x = torch.randn(2, 16, h, w, dtype=torch.float64)
    ref = octconv_reference(layer, x)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), ref)
        torch.testing.assert_close(layer.fuse()(x), ref)


def test_octconv_channel_split():
    layer = OctConv2d(24, 16, 3, alpha=0.3)
    assert (layer.low_in, layer.low_out) == (7, 4)  # floor(0.3 * 24), floor(0.3 * 16)
    assert OctConv2d(100, 100, 3, alpha=0.29).low_in == 29  # not 28 from 28.999999999999996


@pytest.mark.parametrize("alpha", [0.0, 0.125, 0.5, 0.9])
def test_octconv_has_the_parameters_of_a_plain_conv(alpha):
    assert n_params(OctConv2d(64, 32, 3, alpha=alpha)) == n_params(nn.Conv2d(64, 32, 3, bias=False))
    assert n_params(OctConv2d(64, 32, 5, bias=True, alpha=alpha)) == n_params(nn.Conv2d(64, 32, 5))


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
def test_octconv_mac_ratio_at_stride_1(alpha):
    layer = OctConv2d(64, 64, 3, alpha=alpha)
    x = torch.randn(1, 64, 32, 32)
    expected = dense_macs(64, 64, 3, 32, 32) * (1 - 3 * alpha / 2 + 3 * alpha**2 / 4)
    assert conv_macs(layer, x) == expected
    assert conv_macs(layer.fuse(), x) == expected


def test_octconv_mac_ratio_at_stride_2():
    # the paper's stride-2 layer runs L->H at the output grid: (1 - a) + a / 4 of the strided conv
    alpha = 0.5
    x = torch.randn(1, 64, 32, 32)
    expected = dense_macs(64, 64, 3, 16, 16) * (1 - 3 * alpha / 4)
    assert conv_macs(OctConv2d(64, 64, 3, 2, alpha=alpha).fuse(), x) == expected


def test_octconv_alpha_zero_is_a_plain_conv():
    layer = perturb(OctConv2d(16, 24, 3, bias=True, alpha=0.0)).eval()
    x = torch.randn(2, 16, 9, 7)
    deployed = layer.fuse()
    assert type(deployed) is nn.Conv2d
    with torch.no_grad():
        ref = F.conv2d(x, layer.weight, layer.bias, 1, 1)
        torch.testing.assert_close(layer(x), ref)
        torch.testing.assert_close(deployed(x), ref)
        # strided: average pooling first, as the paper's stride-2 layers
        strided = OctConv2d(16, 24, 3, 2, bias=True, alpha=0.0)
        strided.load_state_dict(layer.state_dict())
        pooled = F.avg_pool2d(x, 2, ceil_mode=True, count_include_pad=False)
        torch.testing.assert_close(strided(x), F.conv2d(pooled, layer.weight, layer.bias, 1, 1))


def test_octconv_deploy_lays_out_the_folded_paths():
    deployed = OctConv2d(16, 32, 3, alpha=0.5).fuse()
    assert isinstance(deployed, OctConvDeployed)
    assert deployed.high_w.shape == (16, 8, 3, 3) and deployed.lh_w.shape == (16, 8, 3, 3)
    assert deployed.low_w.shape == (16, 16, 3, 3)  # H->L and L->L in one conv
    strided = OctConv2d(16, 32, 3, 2, alpha=0.5).fuse()
    assert strided.lh_w is None and strided.high_w.shape == (16, 16, 3, 3)  # H->H and L->H in one


def test_octconv_inherits_the_dense_weight():
    conv = nn.Conv2d(16, 32, 3, padding=1, bias=True)
    layer = OctConv2d.from_conv(conv)
    torch.testing.assert_close(layer.weight, conv.weight)
    torch.testing.assert_close(layer.bias, conv.bias)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 400))
def test_nearest_upsampling_to_an_odd_or_even_size_repeats_each_low_pixel(size):
    low = torch.arange(float(math.ceil(size / 2))).view(1, 1, -1, 1)
    up = F.interpolate(low, size=(size, 1), mode="nearest")
    assert torch.equal(up.flatten(), torch.arange(size) // 2 * 1.0)


@pytest.mark.parametrize(
    "arguments, name",
    [
        (dict(alpha=1.0), "alpha"),
        (dict(alpha=-0.1), "alpha"),
        (dict(alpha="half"), "alpha"),
        (dict(kernel_size=2), "kernel_size"),
        (dict(padding=0), "padding"),
    ],
)
def test_octconv_bad_options_raise_value_error(arguments, name):
    with pytest.raises(ValueError, match=name):
        OctConv2d(**{**dict(in_channels=16, out_channels=16, kernel_size=3), **arguments})


# -------------------------------------------------------------------------------------- all


@pytest.mark.parametrize("op", ["ghost", "hetconv", "octconv"])
def test_registered_and_exported(op):
    cls = slimconv.get_op(op)
    assert cls in (GhostConv2d, HetConv2d, OctConv2d)
    module = __import__(cls.__module__, fromlist=["__all__"])
    assert cls.__name__ in module.__all__
