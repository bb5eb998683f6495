"""Every bundled checkpoint loads safely, meets the zoo's accuracy bar and still scores what it recorded."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import slimconv
from slimconv.train.datasets import DEBIAN_FASHION_MNIST
from slimconv.train.idx import IdxImages

BUNDLED = slimconv.list_pretrained()
SUBSET = 1000  # the first test images: a fixed subset, quick on a CPU


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_checkpoint_records_what_the_zoo_promises(name):
    handle = slimconv.load_pretrained(name)
    meta = handle.meta
    assert "fashion" in name and meta.dataset == "fashion-mnist"
    assert not handle.model.training
    assert meta.params == slimconv.count_params(handle.model)
    bar = 0.925 if meta.op is None else 0.90
    assert meta.metrics["test_accuracy"] >= bar, f"{name}: recorded accuracy below the zoo's bar of {bar}"


@pytest.mark.skipif(
    not DEBIAN_FASHION_MNIST.is_dir(),
    reason="needs Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist; CI installs it)",
)
@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_checkpoint_matches_its_recorded_accuracy_on_a_fixed_subset(name):
    handle = slimconv.load_pretrained(name)
    test = IdxImages(DEBIAN_FASHION_MNIST, "test")
    images = [Image.fromarray(test.images[i].numpy()) for i in range(SUBSET)]
    batch = torch.cat([handle.preprocess(image) for image in images])
    with torch.inference_mode():
        predicted = handle.model(batch).argmax(1)
    accuracy = (predicted == test.targets[:SUBSET]).float().mean().item()
    # 1000 images: a binomial standard error of about 0.008 around the full test set's accuracy.
    assert abs(accuracy - handle.meta.metrics["test_accuracy"]) <= 0.03
