"""The zoo: check values of docs/operators.md, torchvision builders, weights from files, offline errors."""

from __future__ import annotations

import socket
import urllib.error

import pytest
import torch
import torchvision

import slimconv
from slimconv import WeightsUnavailableError

ZOO_PARAMS = {
    "resnet20": 272_474,
    "vgg16_cifar": 14_991_946,
    "vgg11_cifar": 9_231_114,
    "mobilenetv2_cifar": 2_296_922,
    "resnet18_cifar": 11_173_962,
}


@pytest.mark.parametrize("name, params", ZOO_PARAMS.items())
def test_zoo_parameter_check_values(name, params):
    assert slimconv.count_params(slimconv.create_model(name)) == params


def test_resnet20_mac_check_value():
    assert slimconv.count_macs(slimconv.create_model("resnet20"), (3, 32, 32)) == 40_813_184


@pytest.mark.parametrize("name, blocks", [("resnet20", 9), ("resnet32", 15), ("resnet56", 27)])
def test_cifar_resnet_depths(name, blocks):
    model = slimconv.create_model(name)
    convs = slimconv.select_convs(model, "3x3")
    assert len(convs) == 2 * blocks + 1  # two 3x3 convs per block and the stem


@pytest.mark.parametrize("name", ["resnet20", "vgg11_cifar", "mobilenetv2_cifar"])
@pytest.mark.parametrize("in_chans, num_classes", [(1, 10), (3, 100)])
def test_zoo_forward_shapes(name, in_chans, num_classes):
    model = slimconv.create_model(name, in_chans=in_chans, num_classes=num_classes).eval()
    assert model(torch.randn(2, in_chans, 32, 32)).shape == (2, num_classes)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2"])
def test_torchvision_metadata_recomputed_from_the_model(name):
    """torchvision's weights record parameters and GFLOPs (its "_ops" are multiply-accumulates)."""
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    model = slimconv.create_model(name)
    assert slimconv.count_params(model) == meta["num_params"]
    assert slimconv.count_macs(model, (3, 224, 224)) / 1e9 == pytest.approx(meta["_ops"], abs=0.0015)


def test_list_models_has_zoo_then_torchvision():
    names = slimconv.list_models()
    assert set(ZOO_PARAMS) | {"resnet32", "resnet56"} <= set(names[:7])
    assert {"resnet50", "mobilenet_v2", "vgg16"} <= set(names)
    assert slimconv.list_models(include_torchvision=False) == names[:7]


def test_unknown_model_and_bad_arguments():
    with pytest.raises(ValueError, match="unknown model"):
        slimconv.create_model("resnet9000")
    with pytest.raises(ValueError, match="in_chans"):
        slimconv.create_model("resnet20", in_chans=0)
    with pytest.raises(ValueError, match="need op"):
        slimconv.create_model("resnet20", alpha=0.5)
    with pytest.raises(ValueError, match="unknown weights"):
        slimconv.create_model("resnet18", weights="NOT_A_WEIGHT")


def test_torchvision_weights_from_a_local_file(tmp_path):
    source = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = slimconv.create_model("resnet18", weights=path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source.eval()(x))


@pytest.mark.slow
def test_weights_file_of_another_architecture_names_the_keys(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save(torchvision.models.vgg11().state_dict(), path)
    with pytest.raises(WeightsUnavailableError, match="missing keys.*conv1"):
        slimconv.create_model("resnet18", weights=path)


def test_zoo_weights_from_safetensors_file(tmp_path):
    from safetensors.torch import save_file

    source = slimconv.create_model("resnet20", num_classes=7)
    path = tmp_path / "r20.safetensors"
    save_file(source.state_dict(), str(path))
    model = slimconv.create_model("resnet20", num_classes=7, weights=path)
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), source.state_dict().values(), strict=True)
    )


@pytest.mark.parametrize("failure, words", [
    (urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution")),
     "cannot look up download.pytorch.org: no network"),
    (urllib.error.URLError("no network"), "download.pytorch.org could not be reached: no network"),
    (TimeoutError("timed out"), "download.pytorch.org did not answer in time"),
])
def test_download_failure_says_why_in_words_and_what_to_do(monkeypatch, failure, words):
    def offline(*args, **kwargs):
        raise failure

    # torchvision's weights call their own import of torch.hub's loader: patched there, nothing is fetched
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError) as raised:
        slimconv.create_model("resnet18", weights="DEFAULT")
    message = str(raised.value)
    assert words in message and "weights=..." in message and "weights=None" in message
    assert "<urlopen error" not in message and "Errno" not in message


def test_pretrained_with_other_classes_and_grey_input(tmp_path):
    source = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = slimconv.create_model("resnet18", weights=path, in_chans=1, num_classes=5).eval()
    assert model.fc.out_features == 5 and model.conv1.in_channels == 1
    # The grey stem sees a grey image as the colour stem sees the same grey in R, G and B.
    grey = torch.rand(1, 1, 32, 32)
    torch.testing.assert_close(model.conv1(grey), source.conv1(grey.expand(1, 3, 32, 32)), rtol=1e-5, atol=1e-5)


def test_create_model_with_operator_uses_the_paper_placement():
    model = slimconv.create_model("resnet20", op="spconv", alpha=0.25)
    layers = [m for m in model.modules() if isinstance(m, slimconv.get_op("spconv"))]
    assert len(layers) == 18 and all(layer.alpha == 0.25 for layer in layers)


def test_a_torchvision_weights_enum_is_recognised_without_slimconv_importing_torchvision():
    """slimconv.models imports torchvision on first use only; an enum the caller made is still recognised."""
    from torchvision.models import ResNet18_Weights

    with pytest.raises(ValueError, match="resnet20 has no torchvision weights"):
        slimconv.create_model("resnet20", weights=ResNet18_Weights.DEFAULT)
    with pytest.raises(ValueError, match="weights must be None, a torchvision weights name or enum"):
        slimconv.create_model("resnet20", weights=3)
