"""deploy() folds a host block's BatchNorm into the SPConv deploy form that feeds it, exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimconv
from slimconv._host_norm import fold_host_batch_norms

from ._helpers import float64_reference, max_relative_error, perturb


def _spconv(channels: int = 16, **options) -> nn.Module:
    return slimconv.create_conv("spconv", channels, channels, 3, **options)


class _Block(nn.Module):
    """conv -> bn, with optional extra uses that must stop the fold."""

    def __init__(self, *, alpha: float = 0.5, reuse_output: bool = False, reuse_bn: bool = False) -> None:
        super().__init__()
        self.conv = _spconv(alpha=alpha)
        self.bn = nn.BatchNorm2d(16)
        self.reuse_output, self.reuse_bn = reuse_output, reuse_bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = self.bn(y)
        if self.reuse_output:
            z = z + y
        if self.reuse_bn:
            z = self.bn(z)
        return z


class _Untraceable(_Block):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
            return self.bn(self.conv(x))
        return self.bn(self.conv(-x))


def _prepared(model: nn.Module, zero_scale_channel: bool = False) -> nn.Module:
    perturb(model, scale=0.3)
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.weight.uniform_(-1.5, 1.5)  # negative scales too
                if zero_scale_channel:
                    bn.weight[3] = 0.0
    return model.eval()


def _deployed_exactly(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """``deploy(model)``, after checking it computes the float64 eval output within 1e-5."""
    reference = float64_reference(model, x)
    deployed = slimconv.deploy(model)
    with torch.no_grad():
        assert max_relative_error(deployed(x), reference) <= 1e-5
    return deployed


@pytest.mark.parametrize("alpha", [0.5, 0.25, 1.0])
@pytest.mark.parametrize("zero_scale_channel", [False, True])
def test_host_batch_norm_is_folded_exactly(alpha, zero_scale_channel):
    deployed = _deployed_exactly(_prepared(_Block(alpha=alpha), zero_scale_channel), torch.randn(3, 16, 9, 9))
    assert isinstance(deployed.bn, nn.Identity)


def test_resnet50_bottleneck_bn2_folded_everywhere_spconv_sits():
    model = _prepared(slimconv.create_model("resnet50", op="spconv", alpha=0.5))
    deployed = _deployed_exactly(model, torch.randn(1, 3, 64, 64))
    folded = [name for name, m in deployed.named_modules() if isinstance(m, nn.Identity)]
    assert len(folded) == 16 and all(name.endswith(".bn2") for name in folded)


@pytest.mark.parametrize("uses", [{"reuse_output": True}, {"reuse_bn": True}])
def test_bn_with_other_uses_is_kept(uses):
    deployed = _deployed_exactly(_prepared(_Block(**uses)), torch.randn(2, 16, 8, 8))
    assert isinstance(deployed.bn, nn.BatchNorm2d)


def test_untraceable_model_keeps_its_bn_and_still_deploys():
    deployed = _deployed_exactly(_prepared(_Untraceable()), torch.randn(2, 16, 8, 8))
    assert isinstance(deployed.bn, nn.BatchNorm2d)


def test_bn_without_running_statistics_is_kept():
    model = _Block()
    model.bn = nn.BatchNorm2d(16, track_running_stats=False)
    deployed = slimconv.deploy(model.eval())
    assert isinstance(deployed.bn, nn.BatchNorm2d)


def test_bn_after_a_plain_conv_is_left_to_the_dense_model():
    model = nn.Sequential(_spconv(), nn.BatchNorm2d(16), nn.Conv2d(16, 16, 3), nn.BatchNorm2d(16)).eval()
    deployed = slimconv.deploy(model)
    assert isinstance(deployed[1], nn.Identity) and isinstance(deployed[3], nn.BatchNorm2d)
    assert fold_host_batch_norms(deployed) == 0  # nothing left to fold
