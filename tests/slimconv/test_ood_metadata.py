"""The out-of-distribution reference in checkpoint metadata: accepted when well formed, refused when not, and
the bundled zoo carries one that flags the photo and none of the default Fashion-MNIST test images."""

from __future__ import annotations

import io

import pytest
import torch

import slimconv
from analysis.ood import OODReference, fit_reference, penultimate_features, read_distances
from slimconv.errors import CheckpointError
from tests.bad_inputs.checkpoints import valid_checkpoint


def _reference(dim: int = 4, classes: int = 10) -> dict:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(200, dim, generator=generator)
    labels = torch.arange(200) % classes
    return fit_reference("fc", features, labels, torch.randn(50, dim, generator=generator), classes).to_meta()


def _with_ood(ood: object) -> bytes:
    payload = torch.load(io.BytesIO(valid_checkpoint()), weights_only=True)
    payload["meta"]["ood"] = ood
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def test_a_well_formed_reference_loads_and_reads_back_the_same() -> None:
    ood = _reference()
    loaded = slimconv.load_checkpoint(_with_ood(ood))
    back = OODReference.from_meta(loaded.meta.ood)
    assert back.quantiles == tuple(ood["quantiles"]) and back.class_means.shape == (10, 4)
    assert slimconv.load_checkpoint(valid_checkpoint()).meta.ood is None  # optional


def _bad(change) -> dict:
    ood = _reference()
    change(ood)
    return ood


@pytest.mark.parametrize(("ood", "expected"), [
    ("mahalanobis", "ood must be None or a dict"),
    (_bad(lambda o: o.pop("layer")), "exactly the keys"),
    (_bad(lambda o: o.update(method="energy")), "ood method must be"),
    (_bad(lambda o: o.update(class_means=o["class_means"][:3])), "one row per class"),
    (_bad(lambda o: o["class_means"][2].append(1.0)), r"class_means\[2\] must be a list of 4"),
    (_bad(lambda o: o["class_means"][0].__setitem__(0, float("nan"))), "finite number"),
    (_bad(lambda o: o["precision_cholesky"][1].pop()), r"precision_cholesky\[1\] must be a list of 2"),
    (_bad(lambda o: o["precision_cholesky"][3].__setitem__(3, -1.0)), "positive diagonal"),
    (_bad(lambda o: o.update(quantile_levels=[0.5, 0.4, 0.99, 0.999])), "increase strictly"),
    (_bad(lambda o: o.update(quantile_levels=[0.5, 0.9, 0.99, 1.0])), "increase strictly"),
    (_bad(lambda o: o.update(quantiles=[3.0, 2.0, 4.0, 5.0])), "non-decreasing"),
    (_bad(lambda o: o.update(quantiles=[1.0, 2.0])), "list of 4 number"),
    (_bad(lambda o: o.update(fit_images=True)), "fit_images must be an integer"),
    (_bad(lambda o: o.update(layer="x" * 300)), "over the limit"),
    ({**_reference(dim=65), "quantiles": [1.0, 2.0, 3.0, 4.0]}, "1 to 64 dimensions"),
])
def test_malformed_references_are_refused_naming_the_field(ood: object, expected: str) -> None:
    with pytest.raises(CheckpointError, match=expected):
        slimconv.load_checkpoint(_with_ood(ood))


def test_a_shifted_input_is_far_and_a_training_like_one_is_not() -> None:
    ood = OODReference.from_meta(_reference())
    readings = read_distances(ood, ood.distances(torch.stack([torch.zeros(4), torch.full((4,), 8.0)])))
    assert [reading.far for reading in readings] == [False, True]
    assert readings[1].band == "farther than 99.9% of its test images"


@pytest.mark.slow
def test_the_bundled_reference_flags_the_photo_and_no_fashion_test_image() -> None:
    from lab.images import default_sample_names, load_sample

    for name in slimconv.list_pretrained():
        handle = slimconv.load_pretrained(name)
        assert handle.meta.ood is not None, name
        reference = OODReference.from_meta(handle.meta.ood)
        items = [load_sample(sample) for sample in default_sample_names()]
        batch = torch.cat([handle.preprocess(item.image) for item in items])
        far = [r.far for r in read_distances(reference, reference.distances(
            penultimate_features(handle.model, batch, reference.layer)[1]))]
        assert far == [item.name == "flower.jpg" for item in items], (name, far)
