"""finetune: the training loop of ``train`` on a model that already exists, leaving that model untouched."""

import pytest
import torch

import slimconv
from slimconv.train import finetune
from tests.slimconv._training_data import make_fashion_folder, tiny_config


@pytest.mark.slow
def test_finetune_trains_a_copy_of_a_converted_model_and_reports_each_epoch(tmp_path):
    data = make_fashion_folder(tmp_path / "data")
    model = slimconv.create_model("resnet20", in_chans=1)
    planned = slimconv.convert(model, {"layers.0.0.conv1": ("spconv", {"alpha": 0.5})})
    before = {k: v.clone() for k, v in planned.state_dict().items()}
    seen = []
    tuned, history = finetune(planned, tiny_config(tmp_path / "unused", data, image_size=16, epochs=2),
                              on_epoch_end=seen.append)
    assert [record["epoch"] for record in history] == [1, 2] and seen == history
    assert {"train_loss", "test_accuracy"} <= set(history[-1])
    assert isinstance(tuned.layers[0][0].conv1, slimconv.SPConv2d) and not tuned.training
    assert not torch.equal(tuned.layers[0][0].conv1.gwc.weight, before["layers.0.0.conv1.gwc.weight"])
    assert all(torch.equal(v, before[k]) for k, v in planned.state_dict().items())  # the original is untouched
    assert not (tmp_path / "unused").exists()  # no files written
