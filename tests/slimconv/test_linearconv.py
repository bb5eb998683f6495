"""LinearConv (WACV 2021): counts, composition, variants, regularisers, weight inheritance."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import slimconv
from slimconv.ops.linearconv import (
    SPARSITY_UPDATE_EVERY,
    LinearConv2d,
    linearconv_correlation_loss,
    linearconv_sparsity_loss,
    linearconv_update_sparsity_masks,
)

from ._helpers import float64_reference, max_relative_error, perturb

VARIANT_OPTIONS = [
    dict(variant="full"),
    dict(variant="lowrank", rank=3),
    dict(variant="rankratio", ratio=0.25),
    dict(variant="sparse", sparsity=0.5),
]
VARIANT_IDS = [o["variant"] for o in VARIANT_OPTIONS]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# -- registry and counts ------------------------------------------------------------------
def test_registered_under_linearconv_with_groups_support():
    assert slimconv.get_op("linearconv") is LinearConv2d
    assert LinearConv2d.supports_groups


def test_full_parameter_count_matches_the_spec():
    layer = LinearConv2d(256, 256, 3, bias=True)
    assert n_params(layer) == 311_552
    assert n_params(nn.Conv2d(256, 256, 3, bias=True)) == 590_080


@pytest.mark.parametrize("bias", [True, False])
def test_lowrank_and_rankratio_parameter_counts(bias):
    cin, cout, k = 24, 48, 3
    p, s = cout // 2, cout - cout // 2
    extra = cout if bias else 0
    lowrank = LinearConv2d(cin, cout, k, bias=bias, variant="lowrank", rank=7)
    assert n_params(lowrank) == p * cin * k * k + 7 * (s + p) + extra
    rankratio = LinearConv2d(cin, cout, k, bias=bias, variant="rankratio", ratio=0.3)
    r = int(p * 0.3)
    assert rankratio.rank == r
    assert n_params(rankratio) == p * cin * k * k + r * (s + p) + extra


def test_rankratio_one_has_more_coefficients_than_full():
    full = LinearConv2d(16, 32, 3, variant="full")
    ratio_one = LinearConv2d(16, 32, 3, variant="rankratio", ratio=1.0)
    assert n_params(ratio_one) - n_params(full) == 16 * 16  # r = P adds P x P


def test_sparse_mask_is_a_buffer_not_a_parameter():
    sparse = LinearConv2d(16, 32, 3, variant="sparse")
    assert n_params(sparse) == n_params(LinearConv2d(16, 32, 3))
    buffers = dict(sparse.named_buffers())
    assert buffers["mask"].shape == (16, 16) and buffers["mask"].dtype == torch.bool
    assert "mask" not in dict(sparse.named_parameters())
    assert {"mask", "tau"} <= set(sparse.state_dict())


def test_odd_out_channels_split_into_p_and_s():
    layer = LinearConv2d(8, 9, 3)
    assert (layer.num_primary, layer.num_secondary) == (4, 5)
    assert layer.primary_weight.shape == (4, 8, 3, 3)
    assert layer.coefficients.shape == (5, 4)
    assert layer.composed_weight().shape == (9, 8, 3, 3)


# -- composition and forward --------------------------------------------------------------
@pytest.mark.parametrize("options", VARIANT_OPTIONS, ids=VARIANT_IDS)
def test_composed_weight_is_primaries_then_their_combinations(options):
    layer = perturb(LinearConv2d(16, 24, 3, **options))
    if layer.variant == "sparse":
        layer.update_sparsity_mask(step_size=1.0)
    weight, v, a = layer.composed_weight(), layer.primary_weight, layer.coefficients
    p = layer.num_primary
    assert torch.equal(weight[:p], v)
    assert torch.equal(weight[p:], (a @ v.flatten(1)).view(-1, *v.shape[1:]))


def test_coefficients_are_the_effective_matrix():
    lowrank = perturb(LinearConv2d(16, 24, 3, variant="lowrank", rank=2))
    torch.testing.assert_close(lowrank.coefficients, lowrank.coefficient_col @ lowrank.coefficient_row)
    assert torch.linalg.matrix_rank(lowrank.coefficients.detach()) == 2
    sparse = perturb(LinearConv2d(16, 24, 3, variant="sparse", sparsity=0.5))
    sparse.update_sparsity_mask(step_size=1.0)
    a = sparse.coefficients
    assert torch.equal(a == 0, ~sparse.mask)
    assert torch.equal(a[sparse.mask], sparse.coefficient_matrix[sparse.mask])


@pytest.mark.parametrize("options", VARIANT_OPTIONS, ids=VARIANT_IDS)
@pytest.mark.parametrize("groups", [1, 4, 16])
def test_eval_and_fused_conv_match_float64_reference(options, groups):
    layer = perturb(LinearConv2d(16, 32, 3, stride=2, groups=groups, **options)).eval()
    if layer.variant == "sparse":
        layer.update_sparsity_mask(step_size=1.0)
    x = torch.randn(2, 16, 9, 7)
    ref = float64_reference(layer, x)
    fused = layer.fuse()
    with torch.no_grad():
        assert max_relative_error(layer(x), ref) <= 1e-5
        assert max_relative_error(fused(x), ref) <= 1e-5


@pytest.mark.parametrize("options", VARIANT_OPTIONS, ids=VARIANT_IDS)
def test_fuse_is_a_plain_conv2d_with_the_composed_weight(options):
    layer = perturb(LinearConv2d(16, 32, 5, stride=2, padding=1, groups=2, **options)).eval()
    fused = layer.fuse()
    assert type(fused) is nn.Conv2d
    assert (fused.stride, fused.padding, fused.groups, fused.kernel_size) == ((2, 2), (1, 1), 2, (5, 5))
    with torch.no_grad():
        assert torch.equal(fused.weight, layer.composed_weight())
        assert torch.equal(fused.bias, layer.bias)
    fused.weight.data.zero_()  # the fused conv owns its weight: the layer is untouched
    assert layer.primary_weight.abs().sum() > 0


def test_fuse_without_bias_and_in_float64():
    layer = LinearConv2d(8, 16, 3, bias=False, dtype=torch.float64)
    fused = layer.fuse()
    assert fused.bias is None and fused.weight.dtype == torch.float64


def test_depthwise_layer_matches_grouped_conv_with_composed_weight():
    layer = perturb(LinearConv2d(32, 32, 3, groups=32)).eval()
    assert layer.primary_weight.shape == (16, 1, 3, 3)
    x = torch.randn(2, 32, 6, 6)
    with torch.no_grad():
        expected = F.conv2d(x, layer.composed_weight(), layer.bias, 1, 1, 1, 32)
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("options", VARIANT_OPTIONS, ids=VARIANT_IDS)
def test_every_parameter_gets_a_gradient(options):
    layer = perturb(LinearConv2d(16, 16, 3, groups=2, **options)).train()
    layer(torch.randn(2, 16, 5, 5)).square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("options", VARIANT_OPTIONS, ids=VARIANT_IDS)
def test_meta_construction_and_unsupported_reason(options):
    assert LinearConv2d.unsupported_reason(nn.Conv2d(16, 16, 3, padding=1, groups=16), **options) is None
    reason = LinearConv2d.unsupported_reason(nn.Conv2d(16, 1, 3, padding=1), **options)
    assert reason and "out_channels" in reason


# -- options ------------------------------------------------------------------------------
def test_default_rank_is_ten_lowered_only_for_small_layers():
    assert LinearConv2d(16, 64, 3, variant="lowrank").rank == 10
    assert LinearConv2d(16, 8, 3, variant="lowrank").rank == 4
    assert LinearConv2d(16, 8, 3, variant="rankratio").rank == 2  # default ratio 0.5 of P = 4
    assert LinearConv2d(16, 8, 3, variant="sparse").sparsity == 0.5


@pytest.mark.parametrize(
    "arguments, match",
    [
        (dict(variant="dense"), "variant"),
        (dict(rank=3), "rank"),
        (dict(variant="rankratio", rank=3), "rank"),
        (dict(variant="lowrank", ratio=0.5), "ratio"),
        (dict(variant="lowrank", sparsity=0.5), "sparsity"),
        (dict(sparsity=0.5), "sparsity"),
        (dict(variant="sparse", rank=2), "rank"),
        (dict(variant="lowrank", rank=9), r"rank.*\[1, 8\]"),  # 16 filters: min(S, P) = 8
        (dict(variant="lowrank", rank=0), "rank"),
        (dict(variant="lowrank", rank=2.0), "rank"),
        (dict(variant="lowrank", rank=True), "rank"),
        (dict(variant="rankratio", ratio=0.0), "ratio"),
        (dict(variant="rankratio", ratio=1.5), "ratio"),
        (dict(variant="rankratio", ratio=0.1), "ratio"),  # int(8 * 0.1) = 0
        (dict(variant="sparse", sparsity=1.0), "sparsity"),
        (dict(variant="sparse", sparsity=-0.1), "sparsity"),
        (dict(variant="sparse", sparsity="half"), "sparsity"),
        (dict(groups=3), "groups"),
        (dict(groups=0), "groups"),
        (dict(bias=1), "bias"),
    ],
)
def test_bad_options_raise_value_error(arguments, match):
    with pytest.raises(ValueError, match=match):
        LinearConv2d(16, 16, 3, **arguments)


def test_out_channels_one_is_rejected():
    with pytest.raises(ValueError, match="out_channels must be >= 2"):
        LinearConv2d(16, 1, 3)


def test_rank_at_the_limit_is_accepted():
    assert LinearConv2d(16, 17, 3, variant="lowrank", rank=8).rank == 8  # P = 8, S = 9


# -- sparse variant ------------------------------------------------------------------------
def test_sparsity_controller_moves_tau_toward_the_target():
    layer = LinearConv2d(16, 64, 3, variant="sparse", sparsity=0.75)
    assert layer.mask.all() and float(layer.tau) == 0.0
    magnitude = layer.coefficient_matrix.detach().abs()
    goal = magnitude.flatten().kthvalue(round(0.75 * magnitude.numel())).values
    layer.update_sparsity_mask(step_size=0.5)
    torch.testing.assert_close(layer.tau, goal / 2)
    assert torch.equal(layer.mask, magnitude > goal / 2)
    reached = [layer.update_sparsity_mask() for _ in range(30)]
    assert reached == sorted(reached)  # monotone approach from below
    assert abs(reached[-1] - 0.75) <= 1 / magnitude.numel()
    assert layer.mask_sparsity() == reached[-1]


def test_sparsity_zero_masks_nothing():
    layer = LinearConv2d(16, 32, 3, variant="sparse", sparsity=0.0)
    assert layer.update_sparsity_mask(step_size=1.0) == 0.0


def test_training_forwards_do_not_update_the_mask():
    """The trainer owns the schedule (every SPARSITY_UPDATE_EVERY steps), not forward()."""
    assert SPARSITY_UPDATE_EVERY == 500
    layer = LinearConv2d(8, 16, 3, variant="sparse").train()
    before = (layer.mask.clone(), layer.tau.clone())
    for _ in range(3):
        layer(torch.randn(1, 8, 4, 4))
    assert torch.equal(layer.mask, before[0]) and torch.equal(layer.tau, before[1])


def test_update_sparsity_masks_walks_the_model_and_skips_other_variants():
    model = nn.Sequential(
        LinearConv2d(8, 16, 3, variant="sparse"),
        LinearConv2d(16, 16, 3),
        nn.Sequential(LinearConv2d(16, 16, 3, variant="sparse", sparsity=0.25)),
    )
    assert linearconv_update_sparsity_masks(model, step_size=1.0) == 2
    assert model[0].mask_sparsity() == 0.5 and model[2][0].mask_sparsity() == 0.25
    with pytest.raises(ValueError, match="sparse"):
        model[1].update_sparsity_mask()
    with pytest.raises(ValueError, match="step_size"):
        model[0].update_sparsity_mask(step_size=0.0)


def test_sparse_state_round_trip_keeps_the_mask():
    source = LinearConv2d(8, 16, 3, variant="sparse")
    source.update_sparsity_mask(step_size=1.0)
    target = LinearConv2d(8, 16, 3, variant="sparse")
    target.load_state_dict(source.state_dict())
    assert torch.equal(target.mask, source.mask) and torch.equal(target.tau, source.tau)


def test_sparsity_loss_is_l1_of_raw_sparse_coefficients():
    model = nn.Sequential(LinearConv2d(8, 16, 3, variant="sparse"), LinearConv2d(16, 16, 3))
    model[0].update_sparsity_mask(step_size=1.0)
    loss = linearconv_sparsity_loss(model)
    torch.testing.assert_close(loss, model[0].coefficient_matrix.abs().sum())
    loss.backward()
    torch.testing.assert_close(model[0].coefficient_matrix.grad, model[0].coefficient_matrix.sign().detach())
    assert model[1].coefficient_matrix.grad is None
    empty = linearconv_sparsity_loss(nn.Sequential(LinearConv2d(8, 16, 3), nn.ReLU()))
    assert empty.shape == () and float(empty) == 0.0


# -- correlation regulariser ---------------------------------------------------------------
def test_correlation_loss_equals_pearson_definition_summed_over_layers():
    model = nn.Sequential(LinearConv2d(8, 16, 3), nn.ReLU(), nn.Sequential(LinearConv2d(16, 12, 1, groups=4)))
    expected = sum(
        (torch.corrcoef(m.primary_weight.detach().flatten(1)) - torch.eye(m.num_primary)).abs().sum()
        for m in (model[0], model[2][0])
    )
    loss = linearconv_correlation_loss(model)
    assert loss.shape == ()
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-5, atol=1e-5)


def test_correlation_loss_is_zero_for_uncorrelated_and_large_for_copies():
    layer = LinearConv2d(4, 8, 3)  # P = 4 primaries of 36 weights
    with torch.no_grad():
        # QR of [ones | random]: columns 1..4 are orthonormal and orthogonal to ones (zero mean),
        # so the four filters are exactly uncorrelated.
        basis, _ = torch.linalg.qr(torch.cat([torch.ones(36, 1), torch.randn(36, 4)], dim=1))
        layer.primary_weight.copy_(basis[:, 1:].T.reshape(4, 4, 3, 3))
    assert linearconv_correlation_loss(layer).item() < 1e-5
    with torch.no_grad():
        layer.primary_weight.copy_(layer.primary_weight[:1].expand(4, -1, -1, -1))
    # every off-diagonal correlation is 1: 4 * 3 entries
    torch.testing.assert_close(linearconv_correlation_loss(layer).item(), 12.0, rtol=1e-5, atol=1e-5)


def test_correlation_loss_is_differentiable_and_safe_for_constant_filters():
    layer = LinearConv2d(1, 8, 1)  # 1x1 filters of one weight: zero variance rows
    loss = linearconv_correlation_loss(layer)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(layer.primary_weight.grad).all()
    layer = LinearConv2d(8, 16, 3)
    with torch.no_grad():
        layer.primary_weight[0].fill_(0.3)
    loss = linearconv_correlation_loss(layer)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(layer.primary_weight.grad).all()
    assert layer.primary_weight.grad[1:].abs().sum() > 0
    assert layer.coefficient_matrix.grad is None


def test_correlation_loss_without_linearconv_is_zero_on_the_model_device_and_dtype_agnostic():
    loss = linearconv_correlation_loss(nn.Sequential(nn.Conv2d(3, 8, 3)))
    assert loss.shape == () and float(loss) == 0.0 and loss.device == torch.device("cpu")
    assert float(linearconv_correlation_loss(nn.ReLU())) == 0.0
    layer64 = LinearConv2d(8, 16, 3, dtype=torch.float64)
    assert linearconv_correlation_loss(layer64).dtype == torch.float64


# -- inheriting a dense convolution --------------------------------------------------------
def dense_with_linear_secondaries(cin, cout, k, groups=1, coefficient_rank=None, seed=0):
    """A dense conv whose last S filters are exact combinations of its first P."""
    generator = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, dtype=torch.float64)
    p, s = cout // 2, cout - cout // 2
    with torch.no_grad():
        coefficients = torch.randn(s, p, generator=generator, dtype=torch.float64)
        if coefficient_rank is not None:
            u, sigma, vh = torch.linalg.svd(coefficients)
            coefficients = u[:, :coefficient_rank] * sigma[:coefficient_rank] @ vh[:coefficient_rank]
        primary = conv.weight[:p].flatten(1)
        conv.weight[p:] = (coefficients @ primary).view(s, *conv.weight.shape[1:])
    return conv.float()


@pytest.mark.parametrize(
    "groups, options",
    [
        (1, dict(variant="full")),
        (1, dict(variant="lowrank", rank=3)),
        (1, dict(variant="rankratio", ratio=0.5)),
        (4, dict(variant="full")),
        (16, dict(variant="full")),  # depthwise: 9 weights per filter < P = 16 primaries
        (16, dict(variant="lowrank", rank=3)),
    ],
)
def test_inheriting_linearly_redundant_dense_conv_is_exact(groups, options):
    conv = dense_with_linear_secondaries(16, 32, 3, groups=groups, coefficient_rank=3)
    layer = LinearConv2d.from_conv(conv, **options)
    assert layer.groups == groups
    assert torch.equal(layer.primary_weight, conv.weight[:16])
    assert torch.equal(layer.bias, conv.bias)
    x = torch.randn(2, 16, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(layer.eval()(x), conv(x), rtol=0, atol=1e-5)
        torch.testing.assert_close(layer.fuse()(x), conv(x), rtol=0, atol=1e-5)


def test_inherited_full_coefficients_are_the_least_squares_optimum():
    conv = nn.Conv2d(16, 24, 1, bias=False)  # 16 weights per filter > P = 12: overdetermined
    layer = LinearConv2d.from_conv(conv)
    v = layer.primary_weight.double().flatten(1)
    residual = layer.coefficients.double() @ v - conv.weight[12:].double().flatten(1)
    assert residual.abs().max() > 1e-3  # random filters are not reproducible
    torch.testing.assert_close(residual @ v.T, torch.zeros(12, 12, dtype=torch.float64), atol=1e-5, rtol=0)
    assert layer.bias is None  # ...and a bias-free conv gives a bias-free layer


def test_inherited_lowrank_is_the_truncated_svd_of_the_least_squares_fit():
    conv = nn.Conv2d(16, 24, 3)
    full = LinearConv2d.from_conv(conv)
    lowrank = LinearConv2d.from_conv(conv, variant="lowrank", rank=4)
    u, sigma, vh = torch.linalg.svd(full.coefficients.detach().double())
    truncated = (u[:, :4] * sigma[:4] @ vh[:4]).float()
    torch.testing.assert_close(lowrank.coefficients.detach(), truncated, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(lowrank.coefficient_col.norm(), lowrank.coefficient_row.norm())


def test_inherited_sparse_keeps_least_squares_coefficients_masked_to_target():
    conv = nn.Conv2d(16, 32, 3)
    full = LinearConv2d.from_conv(conv)
    sparse = LinearConv2d.from_conv(conv, variant="sparse", sparsity=0.25)
    assert sparse.mask_sparsity() == 0.25
    torch.testing.assert_close(sparse.coefficient_matrix, full.coefficient_matrix, rtol=0, atol=0)
    kept = full.coefficient_matrix.detach().abs()[sparse.mask]
    dropped = full.coefficient_matrix.detach().abs()[~sparse.mask]
    assert kept.min() > dropped.max()


def test_from_conv_does_not_touch_the_dense_conv_and_keeps_dtype():
    conv = nn.Conv2d(8, 16, 3, padding=1, dtype=torch.float64)
    before = copy.deepcopy(conv.state_dict())
    layer = LinearConv2d.from_conv(conv, variant="lowrank", rank=2)
    assert all(torch.equal(before[k], conv.state_dict()[k]) for k in before)
    assert layer.primary_weight.dtype == torch.float64


@settings(max_examples=12, deadline=None)
@given(
    cin=st.sampled_from([8, 16]),
    cout=st.sampled_from([8, 17, 24]),
    k=st.sampled_from([1, 3]),
    depthwise=st.booleans(),
    seed=st.integers(0, 100),
)
def test_inheritance_is_exact_for_random_redundant_convs(cin, cout, k, depthwise, seed):
    groups = cin if depthwise and cout % cin == 0 else 1
    conv = dense_with_linear_secondaries(cin, cout, k, groups=groups, seed=seed)
    layer = LinearConv2d.from_conv(conv).eval()
    x = torch.randn(1, cin, 5, 5)
    with torch.no_grad():
        ref = conv(x)
        assert (layer(x) - ref).abs().max() <= 1e-5 * max(1.0, float(ref.abs().max()))
