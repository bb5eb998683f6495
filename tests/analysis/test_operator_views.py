import pytest
import torch
from torch import nn

import slimconv
from analysis import (
    attached_hook_count,
    flgc_switches,
    group_structure,
    inspect_flgc,
    inspect_pedconv,
    inspect_pedconv_in_model,
    inspect_spconv,
    inspect_spconv_in_model,
    split_what_if,
)

from ._models import images


def perturbed(layer: nn.Module, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    return layer.eval()


# -- SPConv -----------------------------------------------------------------------------------
def test_spconv_inspection_matches_the_layer():
    layer = perturbed(slimconv.create_conv("spconv", 8, 6, 3, alpha=0.5))
    x = torch.randn(2, 8, 7, 7)
    inspection = inspect_spconv(layer, x)
    assert inspection.representative_channels.tolist() == [0, 1, 2, 3]
    assert inspection.redundant_channels.tolist() == [4, 5, 6, 7]
    assert inspection.beta.shape == inspection.gamma.shape == (2, 6)
    assert torch.allclose(inspection.beta + inspection.gamma, torch.ones(2, 6), atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(inspection.output, layer(x), atol=1e-5)
    fused = (
        inspection.beta[:, :, None, None] * inspection.representative_output
        + inspection.gamma[:, :, None, None] * inspection.redundant_output
    )
    assert torch.allclose(fused, inspection.output, atol=1e-5)


def test_spconv_inspection_inside_a_model_uses_the_layers_real_input():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        slimconv.create_conv("spconv", 8, 8, 3),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    ).eval()
    perturbed(model[2])
    x = images()
    inspection = inspect_spconv_in_model(model, "2", x)
    with torch.no_grad():
        expected = model[2](model[1](model[0](x)))
    assert torch.allclose(inspection.output, expected, atol=1e-5)
    assert attached_hook_count(model) == 0
    with pytest.raises(ValueError, match="SPConv2d"):
        inspect_spconv_in_model(model, "0", x)


def test_spconv_inspection_with_alpha_one_has_no_redundant_branch():
    layer = slimconv.create_conv("spconv", 4, 4, 3, alpha=1.0).eval()
    inspection = inspect_spconv(layer, torch.randn(1, 4, 5, 5))
    assert inspection.redundant_channels.numel() == 0
    assert torch.all(inspection.beta == 1) and torch.all(inspection.redundant_output == 0)


def test_what_if_prefers_a_similarity_split_when_alike_channels_sit_together():
    generator = torch.Generator().manual_seed(0)
    sources = torch.randn(2, 4, 8, 8, generator=generator)
    # channel pairs (0,1), (2,3), (4,5), (6,7) are copies: the positional split keeps two whole pairs
    maps = sources.repeat_interleave(2, dim=1) * torch.tensor([1.0, -2.0] * 4)[None, :, None, None]
    what_if = split_what_if(maps, alpha=0.5)
    assert what_if.positional.representative_channels.tolist() == [0, 1, 2, 3]
    kept_pairs = {c // 2 for c in what_if.by_similarity.representative_channels.tolist()}
    assert kept_pairs == {0, 1, 2, 3}  # one channel of every pair
    assert what_if.by_similarity.variance_kept_share == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(what_if.by_similarity.redundant_r2, torch.ones(4), atol=1e-5)
    assert what_if.positional.variance_kept_share < 0.75
    assert what_if.chance_r2 == pytest.approx(4 / 127)


def test_what_if_refuses_too_few_positions():
    with pytest.raises(ValueError, match="positions"):
        split_what_if(torch.randn(1, 16, 2, 2), alpha=0.5)
    with pytest.raises(ValueError, match="alpha"):
        split_what_if(torch.randn(1, 4, 5, 5), alpha=0.1)


# -- FLGC -------------------------------------------------------------------------------------
def planted_flgc(channel_groups: list[int], filter_groups: list[int], groups: int):
    layer = slimconv.create_conv("flgc", len(channel_groups), len(filter_groups), 3, groups=groups)
    with torch.no_grad():
        layer.channel_logits.copy_(torch.nn.functional.one_hot(torch.tensor(channel_groups), groups) * 5.0)
        layer.filter_logits.copy_(torch.nn.functional.one_hot(torch.tensor(filter_groups), groups) * 5.0)
    return layer


def test_planted_flgc_grouping_is_recovered():
    channel_groups = [2, 0, 1, 0, 2, 1, 3, 3]  # group 3 has channels but no filter
    filter_groups = [1, 0, 4, 2, 1, 0]  # group 4 has a filter but no channel
    layer = planted_flgc(channel_groups, filter_groups, groups=5)
    inspection = inspect_flgc(layer)
    groups = inspection.groups
    assert groups.channel_groups.tolist() == channel_groups
    assert groups.filter_groups.tolist() == filter_groups
    assert groups.channels_per_group.tolist() == [2, 2, 2, 2, 0]
    assert groups.filters_per_group.tolist() == [2, 2, 1, 0, 1]
    assert groups.dead_filters.tolist() == [2]
    assert groups.unused_channels.tolist() == [6, 7]
    assert torch.equal(groups.mask, layer.group_mask())
    # sorted by group, the mask is block diagonal: an entry is 1 exactly when both sorted labels match
    sorted_channels = groups.channel_groups[groups.channel_order]
    sorted_filters = groups.filter_groups[groups.filter_order]
    assert torch.all(sorted_channels.diff() >= 0) and torch.all(sorted_filters.diff() >= 0)
    expected = (sorted_filters[:, None] == sorted_channels[None, :]).float()
    assert torch.equal(groups.permuted_mask, expected)
    assert inspection.dense_macs_per_position == 9 * 8 * 6
    assert inspection.grouped_macs_per_position == 9 * (2 * 2 + 2 * 2 + 2 * 1)
    assert inspection.deployed_macs_per_position == layer.deployed_macs_per_position()


def test_group_structure_checks_labels():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        group_structure(torch.tensor([0, 2]), torch.tensor([0]), num_groups=2)


def test_switches_between_two_checkpoints():
    before = planted_flgc([0, 0, 1, 1], [0, 1, 1], groups=2)
    after = planted_flgc([0, 1, 1, 1], [1, 1, 1], groups=2)
    switches = flgc_switches(before, after)
    assert switches.channel_switched.tolist() == [False, True, False, False]
    assert switches.filter_switched.tolist() == [True, False, False]
    assert switches.channel_transitions.tolist() == [[1, 1], [0, 2]]
    assert switches.filter_transitions.tolist() == [[0, 1], [0, 2]]
    assert switches.switched_channel_share == pytest.approx(0.25)
    from_state_dicts = flgc_switches(before.state_dict(), after.state_dict(), template=before)
    assert torch.equal(from_state_dicts.channel_transitions, switches.channel_transitions)
    assert before.channel_groups.tolist() == [0, 0, 1, 1]  # the template is not changed
    with pytest.raises(ValueError, match="template"):
        flgc_switches(before.state_dict(), after)


def test_inspect_flgc_refuses_other_layers():
    with pytest.raises(ValueError, match="FLGConv2d"):
        inspect_flgc(nn.Conv2d(2, 2, 1))


# -- PEDConv ----------------------------------------------------------------------------------
def test_pedconv_factors_match_the_layer_and_their_spread():
    layer = perturbed(slimconv.create_conv("pedconv", 8, 6, 3, rank=2, reduction=2))
    x = torch.randn(3, 8, 5, 5)
    inspection = inspect_pedconv(layer, x)
    attention = layer.attention(x)
    assert (
        inspection.gamma.shape == (3, 2, 6) and inspection.phi.shape == (3, 2, 8) and inspection.psi.shape == (3, 2, 9)
    )
    assert torch.allclose(inspection.gamma, attention.gamma.detach())
    assert torch.allclose(inspection.phi_std_over_images, attention.phi.detach().std(0, unbiased=False))
    assert inspection.rank == 2 and inspection.kernel_size == 3
    same = inspect_pedconv(layer, x[:1].repeat(3, 1, 1, 1))
    assert torch.all(same.gamma_std_over_images < 1e-6)
    assert float(inspection.gamma_std_over_images.max()) > 1e-4


def test_pedconv_inspection_inside_a_model():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), slimconv.create_conv("pedconv", 8, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    ).train()
    x = images()
    inspection = inspect_pedconv_in_model(model, "1", x)
    with torch.no_grad():
        expected = model[1].attention(model[0](x)).psi
    assert torch.allclose(inspection.psi, expected, atol=1e-6)
    assert model.training and attached_hook_count(model) == 0


def test_views_refuse_the_wrong_operator():
    with pytest.raises(ValueError, match="PEDConv2d"):
        inspect_pedconv(slimconv.create_conv("spconv", 4, 4, 3), torch.randn(1, 4, 3, 3))
    with pytest.raises(ValueError, match="channels"):
        inspect_spconv(slimconv.create_conv("spconv", 4, 4, 3), torch.randn(1, 5, 3, 3))
