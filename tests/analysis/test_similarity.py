import pytest
import torch

from analysis import channel_similarity

torch.manual_seed(0)


def planted_maps(batch: int = 3) -> torch.Tensor:
    """Channels: 0 random, 1 = 3 * ch0 + 2 (scaled, shifted copy), 2 = -ch0 (sign flip), 3 random,
    4 = ch3 (duplicate), 5 constant."""
    base = torch.randn(batch, 2, 7, 9, generator=torch.Generator().manual_seed(3))
    a, b = base[:, 0], base[:, 1]
    return torch.stack([a, 3 * a + 2, -a, b, b.clone(), torch.full_like(a, 0.7)], dim=1)


def test_pearson_gives_one_for_copies_and_minus_one_for_sign_flips():
    similarity = channel_similarity(planted_maps(), "pearson")
    m = similarity.matrix
    assert m.shape == (6, 6)
    assert m[0, 1] == pytest.approx(1.0, abs=1e-6)
    assert m[3, 4] == pytest.approx(1.0, abs=1e-6)
    assert m[0, 2] == pytest.approx(-1.0, abs=1e-6)
    assert m[1, 2] == pytest.approx(-1.0, abs=1e-6)
    assert abs(float(m[0, 3])) < 0.5
    assert torch.allclose(m, m.T)


def test_cosine_is_one_for_scaled_copies_but_not_for_shifted_ones():
    similarity = channel_similarity(planted_maps(), "cosine")
    assert similarity.matrix[3, 4] == pytest.approx(1.0, abs=1e-6)
    assert similarity.matrix[0, 2] == pytest.approx(-1.0, abs=1e-6)
    assert float(similarity.matrix[0, 1]) < 0.9  # + 2 shift


def test_constant_channel_has_a_zero_row_and_is_reported():
    similarity = channel_similarity(planted_maps(), "pearson")
    assert torch.all(similarity.matrix[5] == 0) and torch.all(similarity.matrix[:, 5] == 0)
    assert similarity.constant_share.tolist() == [0, 0, 0, 0, 0, 1]
    assert similarity.matrix.diagonal()[:5].tolist() == [1, 1, 1, 1, 1]


def test_one_image_given_as_c_h_w():
    maps = planted_maps(batch=1)
    single = channel_similarity(maps[0])
    assert single.num_images == 1
    assert torch.equal(single.matrix, channel_similarity(maps).matrix)
    assert torch.all(single.std_over_images == 0)
    assert single.positions_per_image == 63


def test_structural_versus_image_specific_pairs():
    generator = torch.Generator().manual_seed(1)
    maps = torch.randn(4, 3, 8, 8, generator=generator)
    maps[:, 1] = 2 * maps[:, 0]  # alike on every image: structural
    maps[0, 2] = maps[0, 0] + 1  # alike on image 0 only: image-specific
    similarity = channel_similarity(maps)
    assert similarity.min_over_images[0, 1] == pytest.approx(1.0, abs=1e-6)
    assert similarity.std_over_images[0, 1] == pytest.approx(0.0, abs=1e-3)
    assert similarity.max_over_images[0, 2] == pytest.approx(1.0, abs=1e-6)
    assert float(similarity.min_over_images[0, 2]) < 0.6
    assert float(similarity.std_over_images[0, 2]) > 0.2
    mean = similarity.matrix[0, 2]
    assert float(similarity.min_over_images[0, 2]) <= float(mean) <= float(similarity.max_over_images[0, 2])


@pytest.mark.parametrize(
    ("maps", "metric", "message"),
    [
        (torch.zeros(2, 3), "pearson", "B x C x H x W"),
        (torch.zeros(1, 2, 3, 3, dtype=torch.long), "pearson", "floating-point"),
        (torch.zeros(1, 2, 3, 3), "ssim", "metric must be one of"),
    ],
)
def test_bad_arguments(maps, metric, message):
    with pytest.raises(ValueError, match=message):
        channel_similarity(maps, metric)
