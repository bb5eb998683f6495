"""SPConv (Split to Be Slim, IJCAI 2020): check values, the split, the fusion and the deploy form."""

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
from slimconv.ops._spconv_deploy import average_pool
from slimconv.ops.spconv import SPConv2d, SPConv2dDeploy, SPConvBranches

from ._helpers import float64_reference, max_relative_error, perturb


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def conv_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates counted by FlopCounterMode: convolutions and the 1x1 convs run as GEMMs."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module(x)
    counts = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    assert set(counts) <= {"aten.convolution", "aten.baddbmm"}, counts
    return counter.get_total_flops() // 2


def pool_by_windows(x: torch.Tensor, s: int) -> torch.Tensor:
    """The spec's pool written out: mean of each s x s window, the last window cut at the border."""
    b, c, h, w = x.shape
    out = x.new_empty(b, c, math.ceil(h / s), math.ceil(w / s))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s : (i + 1) * s, j * s : (j + 1) * s].mean((2, 3))
    return out


def spec_reference(layer: SPConv2d, x: torch.Tensor) -> torch.Tensor:
    """Eval output straight from docs/operators.md, in float64, from the layer's raw parameters."""
    x = x.double()
    cr, s = len(layer.representative_channels), layer.stride
    pooled = pool_by_windows(x, s) if s > 1 else x

    def bn(z: torch.Tensor, m: nn.BatchNorm2d) -> torch.Tensor:
        d = lambda t: t.detach().double()[:, None, None]
        return (z - d(m.running_mean)) / torch.sqrt(d(m.running_var) + m.eps) * d(m.weight) + d(m.bias)

    gwc = layer.gwc.weight.detach().double()
    u3 = F.conv2d(x[:, :cr], gwc, stride=s, padding=layer.padding, groups=layer.gwc_groups)
    u3 = bn(u3 + F.conv2d(pooled[:, :cr], layer.pwc.weight.detach().double()), layer.bn_representative)
    if layer.conv_redundant is None:
        y = u3
    else:
        conv = layer.conv_redundant
        u1 = F.conv2d(pooled[:, cr:], conv.weight.detach().double(), conv.bias.detach().double())
        u1 = bn(u1, layer.bn_redundant)
        s3, s1 = u3.mean((2, 3)), u1.mean((2, 3))
        beta = torch.exp(s3) / (torch.exp(s3) + torch.exp(s1))
        y = beta[:, :, None, None] * u3 + (1 - beta)[:, :, None, None] * u1
    if layer.bias is not None:
        y = y + layer.bias.detach().double()[:, None, None]
    return y


# -- check values of docs/operators.md ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("alpha", "stride", "expected_params", "expected_macs"),
    [(0.5, 1, 13_632, 41_746_432), (0.5, 2, 13_632, 10_436_608), (0.25, 1, 9_024, 27_295_744)],
)
def test_check_values(alpha, stride, expected_params, expected_macs):
    layer = SPConv2d(64, 64, 3, stride, alpha=alpha).eval()
    x = torch.randn(1, 64, 56, 56)
    assert params(layer) == expected_params
    deployed = layer.fuse()
    assert isinstance(deployed, SPConv2dDeploy)
    assert conv_macs(deployed, x) == expected_macs
    assert conv_macs(layer, x) == expected_macs  # the deploy form does not add or drop a conv MAC


@pytest.mark.parametrize(("cin", "cout", "alpha"), [(64, 64, 0.5), (128, 256, 0.25), (32, 16, 0.75), (40, 8, 0.5)])
def test_params_and_macs_follow_the_formula(cin, cout, alpha):
    layer = SPConv2d(cin, cout, 3, alpha=alpha)
    assert params(layer) == (1 + 4.5 * alpha) * cin * cout + 5 * cout
    # bias=True adds nothing: the BN shifts already give every output channel its bias
    assert params(SPConv2d(cin, cout, 3, alpha=alpha, bias=True)) == params(layer)
    assert conv_macs(layer.eval().fuse(), torch.randn(1, cin, 7, 7)) == (1 + 4.5 * alpha) * cin * cout * 49
    assert layer.training_only_parameters() == []


# -- the computation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cin", "cout", "k", "s", "alpha", "groups", "bias", "shape"),
    [
        (16, 16, 3, 1, 0.5, 2, False, (2, 8, 8)),
        (16, 32, 3, 2, 0.5, 2, True, (1, 9, 7)),  # odd sizes at stride 2, batch 1
        (24, 16, 3, 3, 0.25, 2, False, (2, 10, 11)),
        (16, 24, 5, 2, 0.75, 4, True, (2, 5, 5)),
        (16, 16, 3, 2, 0.5, 2, False, (2, 8, 6)),  # even sizes: the pool's slice path
        (16, 8, 3, 3, 0.5, 2, True, (1, 9, 6)),
        (16, 16, 3, 2, 1.0, 2, True, (2, 7, 7)),  # no redundant part
        (16, 16, 1, 1, 0.5, 2, False, (2, 5, 6)),  # the 1x1 GWC merges into PWC
        (16, 16, 1, 2, 0.5, 2, False, (2, 5, 6)),
        (8, 16, 1, 1, 1.0, 4, True, (2, 4, 3)),  # the whole layer is one conv
    ],
)
def test_eval_and_deploy_match_the_spec(cin, cout, k, s, alpha, groups, bias, shape):
    layer = perturb(SPConv2d(cin, cout, k, s, bias=bias, alpha=alpha, gwc_groups=groups)).eval()
    x = torch.randn(shape[0], cin, *shape[1:])
    ref = spec_reference(layer, x)
    deployed = layer.fuse().eval()
    with torch.no_grad():
        assert max_relative_error(layer(x), ref) <= 1e-5
        assert max_relative_error(deployed(x), ref) <= 1e-5
        assert max_relative_error(layer.double()(x.double()), ref) <= 1e-12
    assert ref.shape == nn.Conv2d(cin, cout, k, s, k // 2)(x).shape


@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("size", [(6, 12), (7, 12), (1, 1), (13, 5)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_average_pool_is_the_ceil_mode_pool(stride, size, channels_last):
    x = torch.randn(2, 8, *size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    pooled = average_pool(x, stride)
    torch.testing.assert_close(pooled, pool_by_windows(x, stride))
    assert pooled.shape[-2:] == (math.ceil(size[0] / stride), math.ceil(size[1] / stride))
    assert average_pool(x, 1) is x
    leaf = x[:1, :2].double().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: average_pool(t, stride), (leaf,))


def test_fuse_returns_a_plain_conv_when_the_layer_is_one():
    layer = perturb(SPConv2d(16, 8, 1, alpha=1.0, bias=True)).eval()
    deployed = layer.fuse()
    assert type(deployed) is nn.Conv2d and deployed.kernel_size == (1, 1)
    x = torch.randn(2, 16, 5, 5)
    with torch.no_grad():
        assert max_relative_error(deployed(x), float64_reference(layer, x)) <= 1e-5
    merged = SPConv2d(16, 8, 1, alpha=0.5).eval().fuse()
    assert isinstance(merged, SPConv2dDeploy) and merged.pwc_weight is None
    assert merged.gwc_weight.shape == (8, 8, 1, 1) and merged.gwc_groups == 1


def former_layout_reference(layer: SPConv2d, bias: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The former layout's output: the fusion, then a separate output bias (float64)."""
    return spec_reference(layer, x) + bias.double()[:, None, None]


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_a_state_dict_with_the_former_output_bias_loads_into_the_bn_shifts(alpha):
    layer = perturb(SPConv2d(16, 16, 3, 2, bias=True, alpha=alpha)).eval()
    assert layer.bias is None and "bias" not in dict(layer.named_parameters())
    former = layer.state_dict()
    former["bias"] = torch.randn(16)  # what a checkpoint of the former layout holds
    x = torch.randn(2, 16, 9, 9)
    expected = former_layout_reference(layer, former["bias"], x)
    loaded = SPConv2d(16, 16, 3, 2, bias=True, alpha=alpha).eval()
    loaded.load_state_dict(former)  # strict: the bias key is consumed, not left over
    assert "bias" in former  # the caller's dictionary is not changed
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).double(), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(loaded.fuse()(x).double(), expected, rtol=1e-5, atol=1e-5)
    assert set(loaded.state_dict()) == set(layer.state_dict())


def test_a_former_checkpoint_of_a_whole_model_loads_strictly_with_the_same_predictions():
    from slimconv import convert
    from slimconv.models import vgg11_cifar

    model = perturb(convert(vgg11_cifar(), "spconv")).eval()
    former = model.state_dict()
    layers = [name for name, m in model.named_modules() if isinstance(m, SPConv2d)]
    biases = {name: torch.randn(m.out_channels) * 0.1 for name, m in model.named_modules() if name in layers}
    former.update({f"{name}.bias": b for name, b in biases.items()})
    x = torch.randn(2, 3, 32, 32)
    # the former model: each SPConv output shifted by its bias
    hooks = [model.get_submodule(name).register_forward_hook(lambda m, i, o, b=b: o + b[:, None, None])
             for name, b in biases.items()]
    with torch.no_grad():
        expected = model(x)
    for hook in hooks:
        hook.remove()
    fresh = convert(vgg11_cifar(), "spconv").eval()
    fresh.load_state_dict(former)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), expected, rtol=1e-4, atol=1e-4)


def test_deploy_runs_in_float64_and_channels_last_batches():
    layer = perturb(SPConv2d(16, 24, 3, 2, alpha=0.25)).double().eval()
    x = torch.randn(3, 16, 9, 8, dtype=torch.float64)
    deployed = layer.fuse()
    with torch.no_grad():
        ref = layer(x)
        torch.testing.assert_close(deployed(x), ref, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(deployed(x.to(memory_format=torch.channels_last)), ref, rtol=1e-12, atol=1e-12)
    assert all(p.dtype == torch.float64 for p in deployed.parameters())


def test_deploy_is_differentiable_and_counted_with_grad_enabled():
    layer = perturb(SPConv2d(16, 24, 3, 2, alpha=0.25, bias=True)).double().eval()
    deployed = layer.fuse()
    x = torch.randn(2, 16, 9, 8, dtype=torch.float64, requires_grad=True)
    expected = torch.autograd.grad(layer(x).sin().sum(), x)[0]
    with FlopCounterMode(display=False) as counter:
        y = deployed(x)
    torch.testing.assert_close(torch.autograd.grad(y.sin().sum(), x)[0], expected)
    assert counter.get_total_flops() // 2 == conv_macs(deployed, x) == 2 * (1 + 4.5 * 0.25) * 16 * 24 * 5 * 4  # batch 2


# -- the split and the fusion weights for the app ------------------------------------------------
def test_branches_expose_the_split_and_the_fusion_weights():
    layer = perturb(SPConv2d(24, 16, 3, 2, alpha=0.25)).eval()
    assert layer.representative_channels == range(6)
    assert layer.redundant_channels == range(6, 24)
    x = torch.randn(2, 24, 9, 7)
    with torch.no_grad():
        parts = layer.branches(x)
        assert isinstance(parts, SPConvBranches)
        for t in (parts.representative, parts.redundant, parts.output):
            assert t.shape == (2, 16, 5, 4)
        assert parts.beta.shape == parts.gamma.shape == (2, 16)
        torch.testing.assert_close(parts.beta + parts.gamma, torch.ones(2, 16))
        expected_beta = torch.sigmoid(parts.representative.mean((2, 3)) - parts.redundant.mean((2, 3)))
        torch.testing.assert_close(parts.beta, expected_beta)
        fused = parts.beta[..., None, None] * parts.representative + parts.gamma[..., None, None] * parts.redundant
        torch.testing.assert_close(parts.output, fused)
        torch.testing.assert_close(parts.output, layer(x))
        assert not torch.allclose(parts.beta, torch.full_like(parts.beta, 0.5), atol=1e-3)

        # The split is positional: each branch sees only its own input channels.
        changed = x.clone()
        changed[:, 6:] += torch.randn(2, 18, 9, 7)
        torch.testing.assert_close(layer.branches(changed).representative, parts.representative)
        changed = x.clone()
        changed[:, :6] += torch.randn(2, 6, 9, 7)
        torch.testing.assert_close(layer.branches(changed).redundant, parts.redundant)


def test_alpha_one_has_no_redundant_branch():
    layer = perturb(SPConv2d(16, 16, 3, alpha=1.0)).eval()
    assert layer.conv_redundant is None and layer.bn_redundant is None
    assert layer.redundant_channels == range(16, 16) and len(layer.redundant_channels) == 0
    assert params(layer) == 9 * 8 * 16 + 16 * 16 + 2 * 16
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        parts = layer.branches(x)
    assert parts.redundant is None
    assert torch.equal(parts.beta, torch.ones(2, 16)) and torch.equal(parts.gamma, torch.zeros(2, 16))
    assert torch.equal(parts.output, parts.representative)


# -- training mode -------------------------------------------------------------------------------
def test_training_updates_both_batch_norms_and_survives_a_single_value_per_channel():
    layer = SPConv2d(16, 16, 3, 2).train()
    layer(torch.randn(4, 16, 6, 6))
    assert layer.bn_representative.num_batches_tracked == 1 and layer.bn_redundant.num_batches_tracked == 1
    assert not torch.equal(layer.bn_redundant.running_mean, torch.zeros(16))

    before = {k: v.clone() for k, v in layer.state_dict().items()}
    x = torch.randn(1, 16, 2, 2, requires_grad=True)  # batch 1 with a 1x1 output: no batch variance
    y = layer(x)
    assert y.shape == (1, 16, 1, 1) and torch.isfinite(y).all()
    y.sum().backward()
    assert x.grad.abs().sum() > 0
    for name, value in layer.state_dict().items():  # running statistics neither used up nor poisoned
        assert torch.equal(value, before[name]), name
    with torch.no_grad():
        torch.testing.assert_close(y, layer.eval()(x))


# -- arguments -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(alpha=0.0), "alpha"),
        (dict(alpha=1.5), "alpha"),
        (dict(alpha="half"), "alpha"),
        (dict(alpha=0.05), "alpha.*too small"),  # int(16 * 0.05) = 0
        (dict(alpha=0.1875), "gwc_groups.*representative"),  # Cr = 3
        (dict(gwc_groups=3), "gwc_groups"),  # divides neither Cr = 8 nor N = 16
        (dict(gwc_groups=0), "gwc_groups"),
        (dict(gwc_groups=8, out_channels=12), "gwc_groups.*out_channels"),
        (dict(bias=1), "bias"),
        (dict(kernel_size=2), "kernel_size"),
        (dict(padding=0), "padding"),
    ],
)
def test_bad_options_raise_value_error(arguments, message):
    full = dict(in_channels=16, out_channels=16, kernel_size=3) | arguments
    with pytest.raises(ValueError, match=message):
        SPConv2d(**full)


def test_registry_and_dense_conversion():
    assert slimconv.get_op("spconv") is SPConv2d
    dense = nn.Conv2d(32, 64, 3, 2, 1, bias=True)
    torch.manual_seed(3)
    layer = SPConv2d.from_conv(dense, alpha=0.25)
    torch.manual_seed(3)
    fresh = SPConv2d(32, 64, 3, 2, bias=True, alpha=0.25)
    # _inherit_dense_weights deliberately takes nothing over (see its docstring).
    assert layer.state_dict().keys() == fresh.state_dict().keys()
    assert all(torch.equal(value, fresh.state_dict()[key]) for key, value in layer.state_dict().items())
    assert len(layer.representative_channels) == 8
    assert SPConv2d.unsupported_reason(dense, alpha=0.01) is not None


@settings(max_examples=25, deadline=None)
@given(
    cin=st.sampled_from([8, 16, 24]),
    cout=st.sampled_from([8, 16, 32]),
    k=st.sampled_from([1, 3, 5]),
    s=st.integers(1, 3),
    alpha=st.sampled_from([0.25, 0.5, 0.75, 1.0]),
    groups=st.sampled_from([1, 2]),
    bias=st.booleans(),
    b=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
)
def test_deploy_matches_eval_for_random_layers(cin, cout, k, s, alpha, groups, bias, b, h, w):
    layer = perturb(SPConv2d(cin, cout, k, s, bias=bias, alpha=alpha, gwc_groups=groups)).eval()
    x = torch.randn(b, cin, h, w)
    ref = float64_reference(layer, x)
    with torch.no_grad():
        assert max_relative_error(layer.fuse()(x), ref) <= 1e-5
    assert ref.shape[-2:] == (math.ceil(h / s), math.ceil(w / s))


def test_spconv_vgg16_cifar_counts_the_papers_module_structure():
    """Every 3x3 conv but the stem as SPConv at alpha 1/2: (1 + 4.5 alpha) C N + 5 N per layer, the
    stem, the 13 BNs and the classifier as in the dense model; no extra output bias per layer."""
    from slimconv import convert
    from slimconv.models import vgg16_cifar

    model = convert(vgg16_cifar(), "spconv", alpha=0.5)
    layers = [m for m in model.modules() if isinstance(m, SPConv2d)]
    assert len(layers) == 12
    spconv = sum(int(3.25 * m.in_channels * m.out_channels) + 5 * m.out_channels for m in layers)
    dense = params(vgg16_cifar()) - sum(9 * m.in_channels * m.out_channels + m.out_channels for m in layers)
    assert params(model) == spconv + dense == 5_611_338
