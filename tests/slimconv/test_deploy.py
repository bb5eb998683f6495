"""deploy(): every operator's deploy form inside a whole model computes the same function."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimconv
from slimconv.deploy import NothingToDeployWarning

from ._helpers import float64_reference, max_relative_error, perturb

MODEL_FOR_OP = {"flgc": "mobilenetv2_cifar", "linearconv": "resnet20"}


@pytest.mark.parametrize("op", slimconv.list_ops())
def test_deployed_model_matches_float64_reference(op):
    model = slimconv.create_model(MODEL_FOR_OP.get(op, "resnet20"), op=op)
    perturb(model, scale=0.02).eval()
    x = torch.randn(2, 3, 16, 16)
    reference = float64_reference(model, x)
    deployed = slimconv.deploy(model)
    assert deployed is not model
    assert not any(
        isinstance(m, slimconv.SlimConv2d) and type(m) is slimconv.get_op(op) and op != "pedconv"
        for m in deployed.modules()
    ), "training forms left after deploy"
    with torch.no_grad():
        assert max_relative_error(deployed(x), reference) <= 1e-5
    assert not deployed.training


def test_deploy_inplace_and_of_a_single_layer():
    model = slimconv.create_model("resnet20", op="linearconv")
    assert slimconv.deploy(model, inplace=True) is model
    assert not any(isinstance(m, slimconv.SlimConv2d) for m in model.modules())
    layer = slimconv.create_conv("linearconv", 8, 8, 3)
    assert isinstance(slimconv.deploy(layer), nn.Conv2d)


def test_deploy_of_a_model_without_operators_warns():
    with pytest.warns(NothingToDeployWarning, match="no layer with a deploy form"):
        model = slimconv.deploy(nn.Sequential(nn.Conv2d(3, 3, 3)))
    assert not model.training


def test_deploy_drops_training_only_parameters():
    model = slimconv.create_model("mobilenetv2_cifar", op="flgc")
    assert slimconv.count_training_only_params(model) > 0
    deployed = slimconv.deploy(model)
    assert slimconv.count_training_only_params(deployed) == 0
    assert slimconv.count_params(deployed) < slimconv.count_params(model)
