"""Arguments of the weight analyses: filter correlation, singular spectrum, LinearConv primaries."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import analysis
import slimconv

from .._arguments import ARGUMENT_SETTINGS, NOT_MODULES, NOT_POSITIVE_INTS, NOT_UNIT_FRACTIONS, rejects
from ._arguments import bad_tensors, seeded_randn


@st.composite
def conv_weights(draw) -> torch.Tensor:
    """``N x C x k x k`` or ``N x D`` float weights."""
    filters = draw(st.integers(1, 6))
    rest = draw(st.sampled_from([(2, 3, 3), (3, 1, 1), (5,)]))
    return seeded_randn(draw(st.integers(0, 2**16)), filters, *rest)


@ARGUMENT_SETTINGS
@given(weight=conv_weights(), r2_target=st.floats(0, 1), share=st.floats(0, 1))
def test_weight_analyses_are_in_range(weight, r2_target, share):
    filters, size = weight.shape[0], weight[0].numel()
    correlation = analysis.filter_correlation(weight)
    assert correlation.matrix.shape == (filters, filters) and bool((correlation.matrix.abs() <= 1).all())
    assert analysis.correlation_regulariser(weight) == correlation.regulariser >= 0
    spectrum = analysis.filter_spectrum(weight)
    assert len(spectrum.singular_values) == min(filters, size)
    assert 1 <= spectrum.rank_for_energy(share) <= len(spectrum.singular_values)
    rebuild = analysis.primaries_needed(weight, r2_target)
    assert 0 <= rebuild.primaries_needed <= filters and rebuild.r2_by_primaries.shape == (filters, filters + 1)
    assert rebuild.linearconv_params == analysis.linearconv_params(filters, size, rebuild.primaries_needed)


WEIGHT_FUNCTIONS = [
    analysis.filter_correlation,
    analysis.correlation_regulariser,
    analysis.filter_spectrum,
    analysis.primaries_needed,
]


@ARGUMENT_SETTINGS
@given(weight=bad_tensors(dims=(2, 4)), r2_target=NOT_UNIT_FRACTIONS)
def test_weight_analyses_reject_bad_weights_and_targets(weight, r2_target):
    for function in WEIGHT_FUNCTIONS:
        rejects("weight", function, weight)
    rejects("r2_target", analysis.primaries_needed, torch.randn(4, 3), r2_target)
    rejects("energy_share", analysis.filter_spectrum(torch.randn(4, 3)).rank_for_energy, r2_target)


@ARGUMENT_SETTINGS
@given(filters=st.integers(1, 64), size=st.integers(1, 64), data=st.data())
def test_linearconv_params_counts_primaries_and_coefficients(filters, size, data):
    primaries = data.draw(st.integers(0, filters))
    assert analysis.linearconv_params(filters, size, primaries) == primaries * size + (filters - primaries) * primaries


@ARGUMENT_SETTINGS
@given(bad=NOT_POSITIVE_INTS, beyond=st.integers(1, 5))
def test_linearconv_params_rejects_bad_counts(bad, beyond):
    rejects("num_filters", analysis.linearconv_params, bad, 9, 1)
    rejects("filter_size", analysis.linearconv_params, 4, bad, 1)
    rejects("num_primaries", analysis.linearconv_params, 4, 9, 4 + beyond)
    rejects("num_primaries", analysis.linearconv_params, 4, 9, -beyond)
    rejects("num_primaries", analysis.linearconv_params, 4, 9, 1.5)


@ARGUMENT_SETTINGS
@given(out_channels=st.integers(2, 8), variant=st.sampled_from(["full", "lowrank", "sparse"]))
def test_inspect_linearconv_splits_primaries_and_secondaries(out_channels, variant):
    options = {"rank": 1} if variant == "lowrank" else {}
    layer = slimconv.create_conv("linearconv", 4, out_channels, 3, variant=variant, **options)
    inspection = analysis.inspect_linearconv(layer)
    assert inspection.num_primaries + inspection.num_secondaries == out_channels
    assert inspection.coefficients.shape == (inspection.num_secondaries, inspection.num_primaries)


@ARGUMENT_SETTINGS
@given(layer=st.one_of(NOT_MODULES, st.just(nn.Conv2d(4, 4, 3)), st.just(slimconv.create_conv("spconv", 8, 8, 3))))
def test_inspect_linearconv_rejects_other_layers(layer):
    rejects("layer", analysis.inspect_linearconv, layer)
