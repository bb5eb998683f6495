"""FLGC (Fully Learnable Group Convolution): assignments, straight-through gradients, deploy forms."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import slimconv
from slimconv.ops import _grouped_deploy
from slimconv.ops._grouped_deploy import GroupLayout, choose_form
from slimconv.ops.flgc import FLGConv2d, GroupwiseConv2d, PaddedGroupConv2d, _hard_assignment, flgc_balance_loss

from ._helpers import float64_reference, max_relative_error, perturb

FORMS = ["groupwise", "padded", "dense", "auto"]


def plant(layer: FLGConv2d, channel_groups: list[int], filter_groups: list[int]) -> FLGConv2d:
    """Set the logits so that the argmax assignments are the given labels."""
    with torch.no_grad():
        layer.channel_logits.copy_(F.one_hot(torch.tensor(channel_groups), layer.groups) * 4.0 - 2.0)
        layer.filter_logits.copy_(F.one_hot(torch.tensor(filter_groups), layer.groups) * 4.0 - 2.0)
    return layer


def softmax_jacobian_product(logits: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Row-wise J^T g for p = softmax(logits): p * (g - <g, p>), computed by hand."""
    p = logits.softmax(dim=1)
    return p * (grad - (grad * p).sum(dim=1, keepdim=True))


# -- construction and options ------------------------------------------------------------
def test_registered_with_defaults_from_the_spec():
    layer = slimconv.create_conv("flgc", 16, 24, 3)
    assert isinstance(layer, FLGConv2d)
    assert (layer.groups, layer.ste, layer.bias) == (8, "identity", None)
    assert layer.weight.shape == (24, 16, 3, 3)
    assert layer.channel_logits.shape == (16, 8) and layer.filter_logits.shape == (24, 8)
    assert layer.training_only_parameters() == [layer.channel_logits, layer.filter_logits]


def test_logits_are_standard_normal():
    torch.manual_seed(3)
    layer = FLGConv2d(256, 256, 1, groups=16)
    logits = torch.cat([layer.channel_logits.flatten(), layer.filter_logits.flatten()]).detach()
    assert abs(float(logits.mean())) < 0.05 and abs(float(logits.std()) - 1) < 0.05


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(groups=0), "groups"),
        (dict(groups=2.0), "groups"),
        (dict(groups=True), "groups"),
        (dict(ste="gumbel"), "ste"),
        (dict(bias="yes"), "bias"),
    ],
)
def test_bad_options_raise_value_error(options, match):
    with pytest.raises(ValueError, match=match):
        FLGConv2d(16, 16, 3, **options)


def test_bad_deploy_form_raises_value_error():
    with pytest.raises(ValueError, match="form"):
        FLGConv2d(8, 8, 1).fuse("sparse")


def test_more_groups_than_channels_is_allowed():
    layer = perturb(FLGConv2d(8, 8, 3, groups=20)).eval()
    n, m = layer.group_sizes()
    assert n.shape == m.shape == (20,) and int(n.sum()) == 8 and int(m.sum()) == 8
    assert (n == 0).any()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        for form in FORMS:
            assert max_relative_error(layer.fuse(form)(x), float64_reference(layer, x)) <= 1e-5


# -- grouping ------------------------------------------------------------------------------
def test_planted_grouping_gives_labels_sizes_and_a_block_diagonal_mask():
    channel_groups = [2, 0, 1, 0, 2, 1, 1, 0]
    filter_groups = [1, 2, 0, 0, 2, 1]
    layer = plant(FLGConv2d(8, 6, 3, groups=3), channel_groups, filter_groups)
    assert layer.channel_groups.tolist() == channel_groups
    assert layer.filter_groups.tolist() == filter_groups
    n, m = layer.group_sizes()
    assert n.tolist() == [3, 3, 2] and m.tolist() == [2, 2, 2]
    assert layer.deployed_macs_per_position() == 9 * (3 * 2 + 3 * 2 + 2 * 2)

    mask = layer.group_mask()
    assert mask.shape == (6, 8) and set(mask.unique().tolist()) == {0.0, 1.0}
    rows = torch.argsort(torch.tensor(filter_groups), stable=True)
    cols = torch.argsort(torch.tensor(channel_groups), stable=True)
    expected = torch.block_diag(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 2))
    assert torch.equal(mask[rows][:, cols], expected)
    # The forward pass uses exactly this mask.
    assert torch.equal(layer._mask().detach(), mask)


def test_forward_is_a_convolution_with_the_masked_weight():
    layer = perturb(FLGConv2d(16, 8, 3, stride=2, bias=True, groups=4)).eval()
    x = torch.randn(2, 16, 9, 9)
    weight = layer.weight * layer.group_mask()[:, :, None, None]
    expected = F.conv2d(x, weight, layer.bias, stride=2, padding=1)
    with torch.no_grad():
        assert torch.equal(layer(x), expected)
        assert torch.equal(layer.train()(x), expected)  # train and eval alike


def test_single_group_is_the_dense_convolution():
    conv = nn.Conv2d(16, 8, 3, padding=1, bias=True)
    layer = FLGConv2d.from_conv(conv, groups=1).eval()
    assert layer.group_mask().all()
    deployed = layer.fuse()
    assert isinstance(deployed, nn.Conv2d)
    x = torch.randn(2, 16, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), conv(x))


def test_from_conv_inherits_the_dense_weight_and_bias():
    conv = nn.Conv2d(16, 24, 3, stride=2, padding=1, bias=True)
    layer = FLGConv2d.from_conv(conv, groups=4)
    assert torch.equal(layer.weight, conv.weight) and torch.equal(layer.bias, conv.bias)
    x = torch.randn(2, 16, 8, 8)
    masked = F.conv2d(x, conv.weight * layer.group_mask()[:, :, None, None], conv.bias, 2, 1)
    with torch.no_grad():
        torch.testing.assert_close(layer.eval()(x), masked)


# -- straight-through estimators -------------------------------------------------------------
def tiny_layer(ste: str) -> tuple[FLGConv2d, torch.Tensor]:
    torch.manual_seed(5)
    layer = FLGConv2d(3, 2, 1, groups=3, ste=ste)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(2, 3, 1, 1))
        layer.channel_logits.copy_(torch.tensor([[0.3, -0.2, 1.0], [0.5, 0.1, -0.4], [0.2, 0.9, 0.0]]))
        layer.filter_logits.copy_(torch.tensor([[1.2, 0.1, -0.3], [0.0, 0.4, 0.2]]))
    return layer, torch.randn(1, 3, 2, 2)


def reference_assignment_gradients(layer: FLGConv2d, x: torch.Tensor, readout: torch.Tensor):
    """d loss / d S and d loss / d T for loss = sum(readout * conv1x1(x, W * T S^T)), by hand:
    d loss / d M[f, c] = W[f, c] sum_{b, p} readout[b, f, p] x[b, c, p]; then through M = T S^T."""
    s = F.one_hot(layer.channel_groups, layer.groups).double()
    t = F.one_hot(layer.filter_groups, layer.groups).double()
    weight = layer.weight.detach().double()[:, :, 0, 0]
    grad_m = weight * torch.einsum("bfhw,bchw->fc", readout.double(), x.double())
    return grad_m.T @ t, grad_m @ s


@pytest.mark.parametrize("ste", ["identity", "masked"])
def test_straight_through_gradient_of_the_logits(ste):
    layer, x = tiny_layer(ste)
    readout = torch.randn(1, 2, 2, 2)
    (layer(x) * readout).sum().backward()
    grad_s, grad_t = reference_assignment_gradients(layer, x, readout)
    for logits, grad in ((layer.channel_logits, grad_s), (layer.filter_logits, grad_t)):
        hard = F.one_hot(logits.detach().argmax(1), layer.groups).double()
        # identity: every entry of p receives the gradient; masked: only the selected one.
        through = grad if ste == "identity" else grad * hard
        expected = softmax_jacobian_product(logits.detach().double(), through)
        torch.testing.assert_close(logits.grad.double(), expected, rtol=1e-5, atol=1e-7)
        if ste == "identity":
            assert (logits.grad != 0).all()  # the softmax path reaches every entry


def test_masked_estimator_passes_no_gradient_through_unselected_entries():
    """With the upstream gradient only on unselected entries, masked gives exactly zero and
    identity does not."""
    logits = torch.tensor([[0.3, -0.2, 1.0], [0.5, 0.1, -0.4]])
    grads = {}
    for ste in ("identity", "masked"):
        leaf = logits.clone().requires_grad_()
        hard = _hard_assignment(leaf, ste)
        assert torch.equal(hard, F.one_hot(logits.argmax(1), 3).float())  # exact one-hot value
        (hard * (1 - hard.detach()) * torch.tensor([[1.0, 2.0, 3.0]])).sum().backward()
        grads[ste] = leaf.grad
    assert torch.equal(grads["masked"], torch.zeros(2, 3))
    assert (grads["identity"] != 0).all()


# -- deploy forms ------------------------------------------------------------------------------
CONFIGS = [  # (in, out, kernel, stride, padding, bias, batch, height, width)
    (16, 16, 1, 1, 0, False, 2, 6, 6),
    (16, 24, 1, 2, 0, True, 2, 7, 5),
    (16, 16, 1, 1, 1, False, 1, 5, 5),
    (16, 32, 3, 2, 1, True, 2, 9, 7),
    (24, 16, 5, 1, 2, False, 1, 6, 6),
    (16, 16, 3, 3, 1, True, 1, 1, 1),
]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_every_deploy_form_is_exact(form, config):
    cin, cout, k, s, p, bias, b, h, w = config
    layer = perturb(FLGConv2d(cin, cout, k, s, p, bias=bias, groups=4)).eval()
    x = torch.randn(b, cin, h, w)
    deployed = layer.fuse(form).eval()
    with torch.no_grad():
        out = deployed(x)
        assert out.shape == layer(x).shape
        assert max_relative_error(out, float64_reference(layer, x)) <= 1e-5
        channels_last = deployed(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(channels_last, out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("form", ["groupwise", "padded"])
def test_dead_filters_output_their_bias_and_unused_channels_are_ignored(form):
    # Group 3 has filters but no channels (dead filters 1 and 4); group 2 has channels but no filters.
    layer = plant(perturb(FLGConv2d(6, 5, 3, bias=True, groups=4)), [0, 2, 1, 0, 2, 1], [0, 3, 1, 1, 3])
    deployed = layer.fuse(form).eval()
    x = torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        out = deployed(x)
        for dead in (1, 4):
            assert torch.equal(out[:, dead], torch.full_like(out[:, dead], float(layer.bias[dead])))
        x_changed = x.clone()
        x_changed[:, [1, 4]] = torch.randn(2, 2, 5, 5)  # the unused channels
        assert torch.equal(deployed(x_changed), out)
        assert max_relative_error(out, float64_reference(layer, x)) <= 1e-5


@pytest.mark.parametrize("samples_per_chunk", [1, 3, 7])
@pytest.mark.parametrize("stride", [1, 2])
def test_pointwise_inference_in_chunks_is_exact(monkeypatch, samples_per_chunk, stride):
    # 1x1 without autograd runs a few samples at a time; batch 7 in chunks of 3 leaves a short last chunk.
    # Dead filters 1 and 4 (group 3 has no channels) come from one shared row per filter.
    layer = plant(perturb(FLGConv2d(6, 5, 1, stride, bias=True, groups=4)), [0, 2, 1, 0, 2, 1], [0, 3, 1, 1, 3])
    deployed = layer.fuse("groupwise").eval()
    x = torch.randn(7, 6, 6, 5)
    positions = 3 * 3 if stride == 2 else 30
    monkeypatch.setattr(_grouped_deploy, "CHUNK_BYTES", samples_per_chunk * 5 * positions * 4)
    with torch.no_grad():
        out = deployed(x)
    assert torch.equal(out[:, 1], torch.full_like(out[:, 1], float(layer.bias[1].detach())))
    assert max_relative_error(out, float64_reference(layer, x)) <= 1e-5
    # the autograd path: group by group over the whole batch, then a scatter
    torch.testing.assert_close(out, deployed(x).detach(), rtol=1e-6, atol=1e-7)
    assert len(deployed._row_cache) == (1 if 7 % samples_per_chunk == 0 else 2)


def test_pointwise_inference_follows_a_grouping_loaded_into_the_layer():
    # Same group sizes, different channels and filters: the cached row indices must not outlive the grouping.
    first = plant(perturb(FLGConv2d(6, 4, 1, bias=True, groups=2)), [0, 0, 0, 1, 1, 1], [0, 0, 1, 1]).fuse("groupwise")
    second = plant(perturb(FLGConv2d(6, 4, 1, bias=True, groups=2)), [1, 0, 1, 0, 1, 0], [1, 0, 0, 1]).fuse("groupwise")
    x = torch.randn(3, 6, 4, 4)
    with torch.no_grad():
        first(x)  # fills the row cache for this grouping
        first.load_state_dict(second.state_dict())
        torch.testing.assert_close(first(x), second(x), rtol=0, atol=0)


@pytest.mark.parametrize("form", ["groupwise", "padded"])
def test_all_filters_dead(form):
    layer = plant(FLGConv2d(4, 3, 3, stride=2, bias=True, groups=2), [0, 0, 0, 0], [1, 1, 1])
    deployed = layer.fuse(form).eval()
    with torch.no_grad():
        out = deployed(torch.randn(2, 4, 5, 5))
    assert out.shape == (2, 3, 3, 3)
    assert torch.equal(out, layer.bias.detach().view(1, 3, 1, 1).expand(2, 3, 3, 3))


@pytest.mark.parametrize("form", ["groupwise", "padded"])
@pytest.mark.parametrize("bias", [False, True])
def test_deployed_parameters_follow_the_formula(form, bias):
    layer = perturb(FLGConv2d(32, 24, 3, bias=bias, groups=5))
    n, m = layer.group_sizes()
    deployed = layer.fuse(form)
    expected = 9 * int((n * m).sum()) + (24 if bias else 0)
    assert sum(p.numel() for p in deployed.parameters()) == expected
    assert layer.deployed_macs_per_position() == 9 * int((n * m).sum())


@pytest.mark.parametrize("k", [1, 3])
def test_deployed_macs_per_position_counts_the_deployed_convolutions(k):
    layer = FLGConv2d(32, 32, k, groups=4).eval()
    deployed = layer.fuse("groupwise")
    x = torch.randn(2, 32, 6, 6)
    with torch.no_grad(), torch.utils.flop_counter.FlopCounterMode(display=False) as counter:
        deployed(x)
    assert counter.get_total_flops() == 2 * layer.deployed_macs_per_position() * 2 * 36


def test_padded_form_uses_one_grouped_convolution_without_padding_when_groups_are_equal():
    groups = [0, 1, 2, 3] * 4
    layer = plant(FLGConv2d(16, 16, 3, groups=4), groups, groups[::-1])
    deployed = layer.fuse("padded")
    assert isinstance(deployed, PaddedGroupConv2d)
    assert (deployed.num_groups, deployed.n_max, deployed.m_max) == (4, 4, 4)


def test_fuse_returns_a_new_module_with_gradients():
    layer = perturb(FLGConv2d(16, 16, 1, bias=True, groups=4))
    for form in ("groupwise", "padded"):
        deployed = layer.fuse(form)
        deployed(torch.randn(2, 16, 4, 4)).square().sum().backward()
        assert all(p.grad is not None for p in deployed.parameters())
        assert layer.weight.grad is None


@settings(max_examples=25, deadline=None)
@given(
    cin=st.integers(1, 12),
    cout=st.integers(1, 12),
    groups=st.integers(1, 6),
    k=st.sampled_from([1, 3]),
    stride=st.integers(1, 2),
    bias=st.booleans(),
    data=st.data(),
)
def test_random_groupings_deploy_exactly(cin, cout, groups, k, stride, bias, data):
    channel_groups = data.draw(st.lists(st.integers(0, groups - 1), min_size=cin, max_size=cin))
    filter_groups = data.draw(st.lists(st.integers(0, groups - 1), min_size=cout, max_size=cout))
    layer = plant(perturb(FLGConv2d(cin, cout, k, stride, bias=bias, groups=groups)), channel_groups, filter_groups)
    x = torch.randn(2, cin, 5, 4)
    reference = float64_reference(layer, x)
    with torch.no_grad():
        for form in FORMS:
            assert max_relative_error(layer.fuse(form)(x), reference) <= 1e-5


# -- cost model ----------------------------------------------------------------------------------
def layout_of(channel_groups: list[int], filter_groups: list[int], groups: int) -> GroupLayout:
    return GroupLayout.from_labels(torch.tensor(channel_groups), torch.tensor(filter_groups), groups)


def test_cost_model_choices():
    # One group holding everything: the dense convolution.
    assert choose_form(layout_of([0] * 64, [0] * 64, 1), 64, 64, 3) == "dense"
    # Random groups of a wide 1x1 layer: one GEMM per group.
    torch.manual_seed(0)
    random = GroupLayout.from_labels(torch.randint(0, 8, (256,)), torch.randint(0, 8, (256,)), 8)
    assert choose_form(random, 256, 256, 1) == "groupwise"
    # Equal groups of a 3x3 layer: one grouped convolution, no padding.
    equal = layout_of(list(range(8)) * 16, list(range(8)) * 16, 8)
    assert choose_form(equal, 128, 128, 3) == "padded"
    # No live group: nothing to convolve.
    assert choose_form(layout_of([0] * 8, [1] * 8, 2), 8, 8, 3) == "groupwise"


def test_auto_form_builds_the_chosen_module():
    torch.manual_seed(0)
    assert isinstance(FLGConv2d(256, 256, 1, groups=8).fuse(), GroupwiseConv2d)
    assert isinstance(FLGConv2d(64, 64, 1, groups=8).fuse(), nn.Conv2d)  # too thin to gain
    groups = list(range(8)) * 16
    equal = plant(FLGConv2d(128, 128, 3, groups=8), groups, groups)
    assert isinstance(equal.fuse(), PaddedGroupConv2d)


# -- balance regulariser ----------------------------------------------------------------------
def test_balance_loss_is_zero_when_balanced_and_sums_over_layers():
    balanced = FLGConv2d(16, 8, 3, groups=4)
    with torch.no_grad():
        balanced.channel_logits.zero_()  # uniform soft assignments: sizes exactly C/G and N/G
        balanced.filter_logits.zero_()
    assert float(flgc_balance_loss(balanced).detach()) == 0.0

    skewed = FLGConv2d(16, 8, 3, groups=4)
    with torch.no_grad():
        skewed.channel_logits.zero_()
        skewed.filter_logits.copy_(F.one_hot(torch.zeros(8, dtype=torch.long), 4) * 50.0)
    # Filters all in group 0: soft sizes (8, 0, 0, 0) against 2 each -> mean((3, -1, -1, -1)^2) = 3.
    assert float(flgc_balance_loss(skewed).detach()) == pytest.approx(3.0)
    model = nn.Sequential(balanced, nn.ReLU(), skewed, nn.Conv2d(8, 8, 1))
    assert float(flgc_balance_loss(model).detach()) == pytest.approx(3.0)
    twice = nn.Sequential(skewed, copy.deepcopy(skewed))
    assert float(flgc_balance_loss(twice).detach()) == pytest.approx(6.0)


def test_balance_loss_is_differentiable_and_descending_it_balances_the_groups():
    torch.manual_seed(1)
    layer = FLGConv2d(64, 64, 1, groups=8)
    optimizer = torch.optim.SGD(layer.training_only_parameters(), lr=20.0)
    start = float(flgc_balance_loss(layer).detach())
    for _ in range(50):
        optimizer.zero_grad()
        flgc_balance_loss(layer).backward()
        optimizer.step()
    assert float(flgc_balance_loss(layer).detach()) < 0.1 * start
    assert layer.weight.grad is None


def test_balance_loss_of_a_model_without_flgc_layers_is_zero():
    loss = flgc_balance_loss(nn.Conv2d(3, 3, 1))
    assert loss.shape == () and float(loss) == 0.0
