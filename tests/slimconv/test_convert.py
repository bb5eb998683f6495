"""Model surgery: the papers' placements, what is kept, what is skipped, and the report."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimconv

from ._helpers import perturb


def _op_layers(model, op):
    return [m for m in model.modules() if isinstance(m, slimconv.get_op(op))]


@pytest.mark.parametrize(
    "model_name, op, expected",
    [
        ("resnet20", "spconv", 18),  # every 3x3 conv but the stem
        ("resnet50", "spconv", 16),  # the bottleneck 3x3 convs
        ("resnet18", "spconv", 16),  # both 3x3 convs of each basic block
        ("resnet18", "pedconv", 16),
        ("resnet20", "ghost", 18),
        ("mobilenetv2_cifar", "flgc", 17),  # the 1x1 projections of inverted residuals
        ("mobilenet_v2", "flgc", 17),
        ("resnet20", "linearconv", 21),  # every conv: stem, 18 in blocks, 2 projection shortcuts
    ],
)
def test_paper_placements(model_name, op, expected):
    model, report = slimconv.create_model(model_name), None
    converted, report = slimconv.convert(model, op, return_report=True)
    assert len(report.replaced) == expected
    assert len(_op_layers(converted, op)) == expected
    assert report.policy == slimconv.default_policy(op)


def test_linearconv_converts_depthwise_convs_too():
    model = slimconv.create_model("mobilenetv2_cifar")
    total = len(slimconv.select_convs(model, "all"))
    _, report = slimconv.convert(model, "linearconv", return_report=True)
    assert len(report.replaced) == total and not report.skipped


def test_skipped_layers_are_named_with_the_reason():
    model = slimconv.create_model("mobilenetv2_cifar")
    _, report = slimconv.convert(model, "spconv", policy="all", return_report=True)
    skipped = {s.name: s.reason for s in report.skipped}
    assert "layers.0.conv2" in skipped and "groups" in skipped["layers.0.conv2"]
    assert "skipped layers.0.conv2" in str(report)


def test_convert_copies_unless_inplace():
    model = slimconv.create_model("resnet20")
    converted = slimconv.convert(model, "spconv")
    assert converted is not model and not _op_layers(model, "spconv")
    same = slimconv.convert(model, "spconv", inplace=True)
    assert same is model and len(_op_layers(model, "spconv")) == 18


def test_geometry_bias_and_mode_are_kept():
    model = nn.Sequential(nn.Conv2d(3, 16, 3), nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=True), nn.ReLU())
    model.train()
    converted, report = slimconv.convert(model, "linearconv", policy=lambda name, m: name == "1", return_report=True)
    layer = converted[1]
    assert (layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding) == (16, 32, 3, 2, 1)
    assert layer.bias is not None and layer.training
    assert [r.name for r in report.replaced] == ["1"]
    assert report.params_before == 16 * 32 * 9 + 32 and report.params_after == slimconv.count_params(layer)
    x = torch.randn(1, 3, 11, 11)
    assert converted(x).shape == model(x).shape


def test_flgc_with_one_group_inherits_the_dense_conv_exactly():
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.Conv2d(16, 16, 1))
    perturb(model).eval()
    converted = slimconv.convert(model, "flgc", policy="all", groups=1).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(converted(x), model(x), rtol=1e-5, atol=1e-5)


def test_converted_model_keeps_device_and_dtype():
    model = slimconv.create_model("resnet20").double()
    converted = slimconv.convert(model, "spconv")
    assert all(p.dtype == torch.float64 for p in converted.parameters())
    assert converted.eval()(torch.randn(1, 3, 16, 16, dtype=torch.float64)).shape == (1, 10)


def test_bad_policy_option_and_empty_selection_raise():
    model = slimconv.create_model("resnet20")
    with pytest.raises(ValueError, match="policy must be one of"):
        slimconv.convert(model, "spconv", policy="most")
    with pytest.raises(ValueError, match="alpha"):
        slimconv.convert(model, "spconv", alpha=1.5)
    with pytest.raises(ValueError, match="unknown operator"):
        slimconv.convert(model, "magicconv")
    with pytest.raises(ValueError, match="replaced nothing"):
        slimconv.convert(model, "flgc", policy="projection-1x1")  # a ResNet has no inverted-residual projection
    with pytest.raises(ValueError, match="'alpah' is not an option of 'spconv'; its options are alpha, gwc_groups"):
        slimconv.convert(model, "spconv", alpah=0.5)


def test_converting_twice_leaves_replaced_layers_alone():
    model = slimconv.convert(slimconv.create_model("resnet20"), "spconv")
    _, report = slimconv.convert(model, "linearconv", return_report=True)
    assert len(report.replaced) == 21 - 18  # only the stem and the two shortcuts were still dense


def test_projection_policy_passes_over_squeeze_excitation():
    model = slimconv.create_model("efficientnet_b0")
    names = slimconv.select_convs(model, "projection-1x1")
    assert len(names) == 16 and all(".block.3." in n or n.endswith(".block.2.0") for n in names)


def test_flgc_by_default_groups_the_3x3_convs_of_a_model_without_projections():
    from torchvision.models import resnet18

    model = resnet18()
    converted, report = slimconv.convert(model, "flgc", return_report=True)
    assert report.policy == "except-stem" == slimconv.default_policy("flgc", model)
    assert "'projection-1x1' selects no convolution of ResNet" in report.note and report.note in str(report)
    assert len(report.replaced) == 16 and not report.skipped  # both 3x3 convs of all 8 basic blocks
    assert not isinstance(converted.conv1, slimconv.ops.FLGConv2d)
    # where the paper's placement finds its projections, it stays the default, without a note
    _, paper = slimconv.convert(slimconv.create_model("mobilenetv2_cifar"), "flgc", return_report=True)
    assert paper.policy == "projection-1x1" and paper.note == "" and len(paper.replaced) == 17
