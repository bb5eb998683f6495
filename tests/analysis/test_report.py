import pytest
import torch
import torchvision
from torch import nn

import slimconv
from analysis import attached_hook_count, conv_layer_names, redundancy_report

from ._models import FailingNet, TinyNet, images


def test_conv_layer_names_treat_an_operator_as_one_layer():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), slimconv.create_conv("spconv", 8, 8, 3), nn.Conv2d(8, 4, 1))
    assert conv_layer_names(model) == ["0", "1", "2"]


def test_report_scores_every_conv_in_one_forward_pass():
    model = torchvision.models.resnet18(num_classes=10).eval()
    passes = []
    model.register_forward_pre_hook(lambda module, args: passes.append(1))
    progress = []
    report = redundancy_report(
        model, images(batch=1, size=32), progress=lambda done, name: progress.append((done, name))
    )
    assert len(passes) == 1
    assert report.layer_names == conv_layer_names(model)
    assert len(report.scores) == 20
    assert progress[-1][0] == pytest.approx(1.0) and len(progress) == 20
    assert report.map_sizes[0] == (16, 16)
    rows = report.to_rows()
    assert rows[0]["layer"] == "conv1" and rows[0]["channels"] == 64
    assert report.column("channels")[-1] == 512
    assert len(model._forward_pre_hooks) == 1 and attached_hook_count(model) == 1  # only the test's own


def test_report_sees_planted_duplicate_filters():
    model = TinyNet().eval()
    with torch.no_grad():
        model.conv2.weight[4:] = model.conv2.weight[:4] * 2.0
        model.conv2.bias[4:] = model.conv2.bias[:4] * 2.0
    report = redundancy_report(model, images(), layer_names=["conv1", "conv2"])
    conv2 = report.scores[1]
    assert conv2.similar_pair_share >= 4 / 28 - 1e-9
    assert conv2.rebuildable_channel_share == pytest.approx(1.0)
    assert conv2.clusters <= 4
    assert report.scores[0].clusters > conv2.clusters


def test_report_removes_hooks_after_an_error():
    model = FailingNet(fail_on_call=1)
    with pytest.raises(RuntimeError, match="planted"):
        redundancy_report(model, images())
    assert attached_hook_count(model) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(threshold=2.0), "threshold"),
        (dict(layer_names=["fc"]), "not B x C x H x W"),
        (dict(metric="l2"), "metric"),
    ],
)
def test_bad_arguments(kwargs, message):
    model = TinyNet()
    with pytest.raises(ValueError, match=message):
        redundancy_report(model, images(), **kwargs)
    assert attached_hook_count(model) == 0


def test_column_names_are_checked():
    report = redundancy_report(TinyNet(), images())
    with pytest.raises(ValueError, match="score_name"):
        report.column("flops")
