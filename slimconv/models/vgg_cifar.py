"""CIFAR-style VGG: 3x3 conv (with bias) + BN + ReLU stacks and max-pools, then a small classifier."""

from __future__ import annotations

from torch import Tensor, nn

_VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _features(layout: list[int | str], in_chans: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = in_chans
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.BatchNorm2d(int(item)), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


class CifarVGG(nn.Module):
    """``features`` (conv stacks), global average pool (1x1 after five pools at 32x32), ``classifier``."""

    def __init__(self, layout: list[int | str], classifier: nn.Module, *, in_chans: int) -> None:
        super().__init__()
        self.features = _features(layout, in_chans)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


def vgg11_cifar(*, in_chans: int = 3, num_classes: int = 10) -> CifarVGG:
    """VGG-11 for 32x32 inputs: 9,231,114 parameters for 3 in, 10 classes."""
    return CifarVGG(_VGG11, nn.Linear(512, num_classes), in_chans=in_chans)


def vgg16_cifar(*, in_chans: int = 3, num_classes: int = 10) -> CifarVGG:
    """VGG-16 for 32x32 inputs with a 512-512 BN classifier: 14,991,946 parameters for 3 in, 10 classes."""
    classifier = nn.Sequential(
        nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, num_classes)
    )
    return CifarVGG(_VGG16, classifier, in_chans=in_chans)
