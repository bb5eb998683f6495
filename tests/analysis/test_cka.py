import pytest
import torch

from analysis import attached_hook_count, cka_map, layer_grams, linear_cka, model_cka_map

from ._models import FailingNet, TinyNet, images


def random_orthogonal(size: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_is_one_under_orthogonal_transform_and_isotropic_scaling(debiased):
    x = torch.randn(40, 12, dtype=torch.float64)
    y = 3.7 * x @ random_orthogonal(12, 1)
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x, x + 5.0, debiased=debiased) == pytest.approx(1.0, abs=1e-9)  # centring


def test_cka_is_not_invariant_to_anisotropic_scaling():
    x = torch.randn(40, 12, dtype=torch.float64)
    assert linear_cka(x, x * torch.logspace(0, 2, 12, dtype=torch.float64)) < 0.95


def test_cka_of_independent_noise_is_near_zero():
    generator = torch.Generator().manual_seed(0)
    many_examples = torch.randn(2000, 5, generator=generator), torch.randn(2000, 5, generator=generator)
    assert linear_cka(*many_examples) < 0.05
    many_features = torch.randn(30, 3000, generator=generator), torch.randn(30, 3000, generator=generator)
    assert linear_cka(*many_features) > 0.5  # the plain estimator is inflated when p >> n
    assert abs(linear_cka(*many_features, debiased=True)) < 0.1


def test_feature_maps_are_flattened_per_example():
    maps = torch.randn(10, 4, 3, 3)
    assert linear_cka(maps, maps.flatten(1)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("x", "y", "debiased", "message"),
    [
        (torch.randn(5, 3), torch.randn(6, 3), False, "examples"),
        (torch.randn(3, 3), torch.randn(3, 3), True, "at least 4"),
        (torch.ones(5, 3), torch.randn(5, 3), False, "undefined"),
        (torch.randn(5), torch.randn(5), False, "n x"),
    ],
)
def test_bad_inputs(x, y, debiased, message):
    with pytest.raises(ValueError, match=message):
        linear_cka(x, y, debiased=debiased)


def test_model_against_itself_has_a_unit_diagonal():
    model = TinyNet().eval()
    result = model_cka_map(model, model, images(batch=6), debiased=True)
    assert result.layer_names_a == ["conv1", "conv2"] == result.layer_names_b
    assert result.matrix.shape == (2, 2)
    assert torch.allclose(result.matrix.diagonal(), torch.ones(2, dtype=torch.float64), atol=1e-9)
    assert attached_hook_count(model) == 0


def test_cka_map_matches_linear_cka_on_captured_maps():
    model = TinyNet().eval()
    x = images(batch=6)
    grams = layer_grams(model, x, ["conv1", "fc"])
    conv1 = model.conv1(x).detach()
    logits = model(x).detach()
    result = cka_map(grams, grams)
    assert float(result.matrix[0, 1]) == pytest.approx(linear_cka(conv1, logits), abs=1e-9)


def test_layer_grams_removes_hooks_after_an_error():
    model = FailingNet(fail_on_call=1)
    with pytest.raises(RuntimeError, match="planted"):
        layer_grams(model, images(batch=4))
    assert attached_hook_count(model) == 0
