"""Valid and refused arguments of the out-of-distribution reference, the bundled samples and a plan's outcome."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import analysis
from analysis.ood import read_distances


def _features(rows: int, dim: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed))


def _classifier() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3)).eval()


def test_the_reference_reads_its_own_classes_as_near_and_a_far_point_as_far():
    reference = analysis.fit_reference("4", _features(300), torch.arange(300) % 3, _features(200, seed=1), 3)
    assert reference.quantiles == tuple(sorted(reference.quantiles))
    near, far = read_distances(reference, reference.distances(torch.stack([reference.class_means[0].float(),
                                                                            torch.full((3,), 40.0)])))
    assert isinstance(near, analysis.OODReading) and not near.far and near.band.startswith("closer")
    assert far.far and "99.9%" in far.band


def test_the_reference_refuses_a_class_without_images_and_features_of_another_width():
    with pytest.raises(ValueError, match="some class has no training image"):
        analysis.fit_reference("fc", _features(30), torch.zeros(30, dtype=torch.long), _features(10), 3)
    reference = analysis.fit_reference("fc", _features(60), torch.arange(60) % 3, _features(20), 3)
    with pytest.raises(ValueError, match="features must be n x 3"):
        reference.distances(_features(5, dim=4))


def test_penultimate_features_are_the_classifier_input():
    model = _classifier()
    layer = analysis.penultimate_layer(model)
    logits, features = analysis.penultimate_features(model, torch.rand(5, 1, 8, 8), layer)
    assert layer == "4" and logits.shape == (5, 3) and features.shape == (5, 4)
    assert torch.allclose(model[4](features), logits, atol=1e-6)


def test_penultimate_features_refuse_models_without_that_linear_layer():
    with pytest.raises(ValueError, match="no nn.Linear classifier"):
        analysis.penultimate_layer(nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match="no linear layer 'fc'"):
        analysis.penultimate_features(_classifier(), torch.rand(2, 1, 8, 8), "fc")
    with pytest.raises(ValueError, match="no linear layer '0'"):
        analysis.penultimate_features(_classifier(), torch.rand(2, 1, 8, 8), "0")  # a conv, not a classifier


def test_samples_are_files_labelled_by_their_class():
    names = analysis.fashion_sample_names()
    assert names == sorted(names) and len(names) >= 16
    assert analysis.sample_path(names[0]).is_file() and analysis.sample_path("flower.jpg").is_file()
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
    assert analysis.has_sample_classes(classes) and not analysis.has_sample_classes(classes[:5])
    labels = analysis.sample_labels(["ankle-boot_00000.png", "t-shirt-top_00001.png"], classes)
    assert labels.tolist() == [9, 0]


def test_samples_refuse_names_that_are_not_bundled_and_photos_as_labelled_images():
    with pytest.raises(ValueError, match="is not a bundled sample"):
        analysis.sample_path("../../etc/passwd")
    with pytest.raises(ValueError, match="is not a bundled sample"):
        analysis.sample_path("trouser_99999.png")
    with pytest.raises(ValueError, match="flower.jpg is not an image of one of the model's classes"):
        analysis.sample_labels(["flower.jpg"], ("T-shirt/top", "Trouser"))


def test_the_outcome_of_a_model_against_itself_and_a_smaller_one():
    torch.manual_seed(0)
    original = _classifier()
    images = torch.rand(6, 1, 8, 8)
    same = analysis.plan_outcome(original, original, images, labels=torch.zeros(6, dtype=torch.long))
    assert isinstance(same, analysis.PlanOutcome) and same.agreement.value == 1.0
    assert same.params_before == same.params_after and same.accuracy_before == same.accuracy_after
    assert all(value == pytest.approx(1.0, abs=1e-5) for value in same.layer_cka.values())
    assert [row["quantity"] for row in same.to_rows()][-1] == "accuracy"
    assert analysis.plan_outcome(original, original, images).accuracy_after is None
    comparison = analysis.latency_comparison(original, original, (1, 8, 8), batch_size=2)
    assert comparison.input_shape == (2, 1, 8, 8) and len(comparison.candidates) == 2
    assert comparison.candidates[1].build() is not original  # a copy: timing leaves the model given alone


def test_the_outcome_refuses_what_is_not_a_model_and_labels_of_another_length():
    original = _classifier()
    with pytest.raises(ValueError, match="planned must be a torch.nn.Module"):
        analysis.plan_outcome(original, "resnet18", torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match="differ in shape"):
        analysis.plan_outcome(original, original, torch.rand(4, 1, 8, 8), labels=torch.zeros(3, dtype=torch.long))
