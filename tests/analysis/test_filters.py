import pytest
import torch

import slimconv
from analysis import (
    correlation_regulariser,
    filter_correlation,
    filter_spectrum,
    inspect_linearconv,
    linearconv_params,
    primaries_needed,
)
from slimconv.ops.linearconv import linearconv_correlation_loss


def weight_with_duplicates() -> torch.Tensor:
    """6 filters 4 x 3 x 3: 0, 1, 2 independent; 3 = 0; 4 = -2 * 1; 5 = 0 + 1."""
    w = torch.randn(6, 4, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w[3] = w[0]
    w[4] = -2 * w[1]
    w[5] = w[0] + w[1]
    return w


def test_filter_correlation_of_copies_and_flips():
    correlation = filter_correlation(weight_with_duplicates())
    m = correlation.matrix
    assert m.shape == (6, 6)
    assert m[0, 3] == pytest.approx(1.0, abs=1e-6)
    assert m[1, 4] == pytest.approx(-1.0, abs=1e-6)
    expected = float(m.double().abs().sum() - 6)
    assert correlation.regulariser == pytest.approx(expected, rel=1e-5)


def test_regulariser_equals_linearconvs_own_loss():
    layer = slimconv.create_conv("linearconv", 8, 12, 3)
    model = torch.nn.Sequential(layer)
    expected = float(linearconv_correlation_loss(model).detach())
    assert correlation_regulariser(layer.primary_weight) == pytest.approx(expected, rel=1e-4)
    inspection = inspect_linearconv(layer)
    assert inspection.regulariser == pytest.approx(expected, rel=1e-4)
    assert inspection.coefficients.shape == (6, 6)
    assert inspection.composed_correlation.matrix.shape == (12, 12)


def test_composed_filters_of_a_linearconv_are_rebuilt_exactly_from_its_primaries():
    layer = slimconv.create_conv("linearconv", 4, 10, 3)
    rebuild = primaries_needed(layer.composed_weight().detach(), r2_target=0.999)
    assert rebuild.primaries_needed == 5  # the rank of cat(V, A V)


def test_spectrum_sees_the_rank():
    spectrum = filter_spectrum(weight_with_duplicates())
    assert spectrum.singular_values.shape == (6,)
    assert float(spectrum.singular_values[3]) < 1e-10 * float(spectrum.singular_values[0])
    assert spectrum.rank_for_energy(1.0) == 3
    assert 1.0 < spectrum.effective_rank < 3.0 + 1e-9
    assert spectrum.cumulative_energy[-1] == pytest.approx(1.0)


def test_duplicated_filters_are_rebuilt_exactly():
    rebuild = primaries_needed(weight_with_duplicates(), r2_target=0.99)
    assert rebuild.primaries_needed == 3
    assert torch.allclose(rebuild.r2_by_primaries[:, 3], torch.ones(6, dtype=torch.float64), atol=1e-9)
    assert torch.all(rebuild.r2_by_primaries[:, 0] == 0)
    assert torch.all(rebuild.r2_by_primaries[:, 1:].diff(dim=1) >= -1e-12)  # more primaries never hurt
    first = int(rebuild.primary_order[0])
    twins = {0: 3, 3: 0, 1: 4, 4: 1}
    if first in twins:  # a filter's twin is rebuilt by it alone
        assert rebuild.r2_by_primaries[twins[first], 1] == pytest.approx(1.0, abs=1e-9)
    assert rebuild.dense_params == 6 * 36
    assert rebuild.linearconv_params == linearconv_params(6, 36, 3) == 3 * 36 + 3 * 3
    assert rebuild.params_saved == 6 * 36 - (3 * 36 + 9)


def test_primaries_per_filter_are_within_the_layer_count():
    rebuild = primaries_needed(torch.randn(8, 2, 3, 3), r2_target=0.9)
    assert int(rebuild.primaries_per_filter.max()) == rebuild.primaries_needed <= 8
    reached = rebuild.r2_by_primaries.gather(1, rebuild.primaries_per_filter[:, None])
    assert torch.all(reached >= 0.9 - 1e-9)


@pytest.mark.parametrize("weight", [torch.randn(3), torch.randn(2, 3, 4), torch.zeros(0, 3, 3, 3)])
def test_bad_weights(weight):
    with pytest.raises(ValueError, match="weight"):
        filter_correlation(weight)


def test_bad_target():
    with pytest.raises(ValueError, match="r2_target"):
        primaries_needed(torch.randn(4, 4), r2_target=1.2)


def test_inspect_linearconv_refuses_other_layers():
    with pytest.raises(ValueError, match="LinearConv2d"):
        inspect_linearconv(torch.nn.Conv2d(3, 3, 3))
