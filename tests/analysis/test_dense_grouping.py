"""The grouping a dense layer's weights come closest to (analysis.dense_grouping) and the layer chooser on it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import analysis


def _hidden_blocks(filters: int = 64, channels: int = 48, groups: int = 4, leak: float = 0.05) -> torch.Tensor:
    """A weight whose filters each draw on one block of channels (plus a small leak), rows and columns shuffled."""
    torch.manual_seed(0)
    mask = torch.zeros(filters, channels)
    for g in range(groups):
        mask[g * filters // groups:(g + 1) * filters // groups, g * channels // groups:(g + 1) * channels // groups] = 1
    weight = torch.randn(filters, channels, 3, 3) * (mask + leak)[:, :, None, None]
    return weight[torch.randperm(filters)][:, torch.randperm(channels)]


def test_a_hidden_block_structure_is_found_and_its_share_is_the_energy_inside_the_groups():
    weight = _hidden_blocks()
    found = analysis.dense_grouping(weight, 4)
    energy = weight.double().square().sum(dim=(2, 3))
    inside = (energy * found.groups.mask.double()).sum() / energy.sum()
    assert found.energy_kept == pytest.approx(float(inside), rel=1e-9)
    assert found.energy_kept >= 0.95
    assert found.random_energy_kept == pytest.approx(0.25)
    assert found.shuffled_energy_kept < 0.6  # a few large energies group well by chance too
    assert found.structure_beyond_chance > 0.4
    assert found.groups.channels_per_group.tolist() == [12] * 4
    assert found.groups.filters_per_group.tolist() == [16] * 4


def test_weights_without_structure_keep_what_the_search_finds_by_chance():
    torch.manual_seed(1)
    found = analysis.dense_grouping(torch.randn(64, 64, 3, 3), 4)
    assert found.energy_kept >= found.random_energy_kept  # the search never does worse than a random grouping
    assert abs(found.structure_beyond_chance) < 0.05


def test_groups_are_as_equal_as_the_counts_allow():
    found = analysis.dense_grouping(torch.randn(10, 7, 3, 3), 3)
    assert found.groups.channels_per_group.tolist() == [3, 2, 2]
    assert found.groups.filters_per_group.tolist() == [4, 3, 3]
    assert found.random_energy_kept == pytest.approx((4 * 3 + 3 * 2 + 3 * 2) / 70)


@pytest.mark.parametrize(
    ("weight", "groups", "message"),
    [
        (torch.randn(8, 4, 3), 2, "N x C x k x k"),
        (torch.ones(8, 4, 3, 3, dtype=torch.long), 2, "floating"),
        ("weights", 2, "N x C x k x k"),
        (torch.randn(8, 4, 3, 3), 5, "exceeds the layer's 4 input channels"),
        (torch.randn(8, 4, 3, 3), 0, "groups"),
        (torch.randn(8, 4, 3, 3), 2.0, "groups"),
        (torch.full((8, 4, 3, 3), float("nan")), 2, "NaN"),
        (torch.zeros(8, 4, 3, 3), 2, "all zeros"),
    ],
)
def test_bad_arguments(weight, groups, message):
    with pytest.raises(ValueError, match=message):
        analysis.dense_grouping(weight, groups)


def test_the_chooser_opens_on_the_layer_with_group_structure():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(48, 64, 3), nn.Conv2d(64, 48, 3))
    with torch.no_grad():
        model[1].weight.copy_(_hidden_blocks(48, 64))
    choice = analysis.most_groupable_layer(model, ["0", "1"], 4)
    assert choice.layer == "1"
    assert choice.scores["1"] > 0.4 > choice.scores["0"]
    assert "grouping into 4, minus what the same search keeps in shuffled weights" in choice.reason
    with torch.no_grad():
        model[0].weight.zero_()  # nothing to group: not a candidate, not an error
    assert list(analysis.most_groupable_layer(model, ["0", "1"], 4).scores) == ["1"]
    with pytest.raises(ValueError, match="no layer qualifies"):
        analysis.most_groupable_layer(model, ["0"], 4)
