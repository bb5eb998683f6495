"""convert() is explicit: a conv shared by two places is replaced at both (the sharing kept), and a Conv2d
subclass with its own forward is skipped with a reason unless the caller opts in."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimconv


class WeightStandardisedConv2d(nn.Conv2d):
    """Weight standardisation: what an operator replacing it would silently drop."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return self._conv_forward(x, weight / (weight.std(dim=(1, 2, 3), keepdim=True) + 1e-5), self.bias)


class PlainSubclass(nn.Conv2d):
    """A subclass that adds nothing to the computation: replaced like a Conv2d."""


def _model() -> nn.Sequential:
    shared = nn.Conv2d(8, 8, 3, padding=1)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), shared, nn.ReLU(), shared,
                         WeightStandardisedConv2d(8, 8, 3, padding=1), PlainSubclass(8, 8, 3, padding=1))


def test_a_shared_conv_is_replaced_at_every_use_by_one_layer() -> None:
    converted, report = slimconv.convert(_model(), "spconv", return_report=True)
    assert isinstance(converted[1], slimconv.SPConv2d) and converted[1] is converted[3]
    names = [layer.name for layer in report.replaced]
    assert names[:2] == ["1", "3"] and "the same layer as 1" in report.replaced[1].before
    assert (report.replaced[0].params_before, report.replaced[1].params_before) == (8 * 8 * 9 + 8, 0)  # counted once
    assert converted(torch.randn(1, 3, 8, 8)).shape == (1, 8, 8, 8)


def test_a_conv_subclass_with_its_own_forward_is_skipped_with_a_reason() -> None:
    converted, report = slimconv.convert(_model(), "spconv", return_report=True)
    assert type(converted[4]) is WeightStandardisedConv2d
    skipped = {layer.name: layer.reason for layer in report.skipped}
    assert "WeightStandardisedConv2d is a Conv2d subclass with its own forward" in skipped["4"]
    assert "replace_custom_convs=True" in skipped["4"]
    assert isinstance(converted[5], slimconv.SPConv2d), "a subclass without its own forward is replaced"


def test_replace_custom_convs_opts_in() -> None:
    converted = slimconv.convert(_model(), "spconv", replace_custom_convs=True)
    assert isinstance(converted[4], slimconv.SPConv2d)


def test_replace_custom_convs_must_be_a_boolean() -> None:
    with pytest.raises(ValueError, match="replace_custom_convs must be True or False"):
        slimconv.convert(_model(), "spconv", replace_custom_convs="yes")


def test_a_skipped_shared_conv_is_reported_at_each_place() -> None:
    shared = WeightStandardisedConv2d(8, 8, 3, padding=1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), shared, shared, nn.Conv2d(8, 8, 3, padding=1))
    _, report = slimconv.convert(model, "spconv", return_report=True)
    assert [layer.name for layer in report.skipped] == ["1", "2"]
