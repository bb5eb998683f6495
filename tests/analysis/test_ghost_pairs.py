import pytest
import torch
import torch.nn.functional as F

from analysis import fit_affine, fit_depthwise, ghost_pairs


def test_affine_rebuild_of_a_scaled_copy_is_exact():
    source = torch.randn(2, 6, 6)
    rebuild = fit_affine(source, -1.5 * source + 0.25)
    assert rebuild.r2 == pytest.approx(1.0, abs=1e-9)
    assert float(rebuild.weights[0]) == pytest.approx(-1.5, abs=1e-5)
    assert rebuild.bias == pytest.approx(0.25, abs=1e-5)


def test_depthwise_rebuild_recovers_a_planted_filter():
    source = torch.randn(3, 9, 9)
    kernel = torch.randn(3, 3)
    target = F.conv2d(source[:, None], kernel[None, None], padding=1)[:, 0] + 0.5
    rebuild = fit_depthwise(source, target, kernel_size=3)
    assert rebuild.r2 == pytest.approx(1.0, abs=1e-9)
    assert torch.allclose(rebuild.weights, kernel, atol=1e-4)
    assert rebuild.bias == pytest.approx(0.5, abs=1e-4)
    assert fit_affine(source, target).r2 < 0.9  # one scale cannot undo a 3x3 filter


def test_ghost_pairs_finds_the_planted_pairs():
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(2, 6, 8, 8, generator=generator)
    maps[:, 4] = 2.0 * maps[:, 1] - 1.0
    maps[:, 5] = -maps[:, 2] + 0.01 * torch.randn(2, 8, 8, generator=generator)
    pairs = ghost_pairs(maps, num_pairs=2)
    found = {frozenset(p) for p in zip(pairs.source_channels.tolist(), pairs.target_channels.tolist(), strict=True)}
    assert found == {frozenset({1, 4}), frozenset({2, 5})}
    assert torch.all(pairs.affine_r2 > 0.99)
    assert torch.all(pairs.depthwise_r2 >= pairs.affine_r2 - 1e-6)  # depthwise contains affine
    assert pairs.example_maps.shape == (2, 4, 8, 8)
    assert pairs.depthwise_kernels.shape == (2, 3, 3)
    exact = pairs.affine_r2.argmax()
    assert torch.allclose(pairs.example_maps[exact, 2], pairs.example_maps[exact, 1], atol=1e-4)


def test_dead_channels_are_never_paired():
    maps = torch.randn(2, 3, 5, 5)
    maps[:, 1] = 0
    maps[:, 2] = 0
    with pytest.raises(ValueError, match="fewer than 2 channels vary"):
        ghost_pairs(maps)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [(dict(kernel_size=2), "odd"), (dict(num_pairs=0), "num_pairs"), (dict(example_image=5), "example_image")],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ghost_pairs(torch.randn(2, 3, 5, 5), **kwargs)
