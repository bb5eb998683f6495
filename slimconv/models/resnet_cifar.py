"""CIFAR-style ResNets: He et al. 2016 (ResNet-20/32/56) and the common CIFAR ResNet-18 layout."""

from __future__ import annotations

from torch import Tensor, nn


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with a residual; 1x1 conv + BN projection when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """3x3 stem, stages of basic blocks (stride 2 at the start of every stage but the first), GAP, FC.

    Input ``B x in_chans x 32 x 32`` (any size works), output ``B x num_classes`` logits.
    """

    def __init__(self, widths: list[int], depths: list[int], *, in_chans: int, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, widths[0], 3, 1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        stages = []
        channels = widths[0]
        for index, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            blocks = []
            for block_index in range(depth):
                stride = 2 if index > 0 and block_index == 0 else 1
                blocks.append(BasicBlock(channels, width, stride))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.fc(self.pool(x).flatten(1))


def resnet20(*, in_chans: int = 3, num_classes: int = 10) -> CifarResNet:
    """ResNet-20 (3 x 3 basic blocks, widths 16/32/64): 272,474 parameters for 3 in, 10 classes."""
    return CifarResNet([16, 32, 64], [3, 3, 3], in_chans=in_chans, num_classes=num_classes)


def resnet32(*, in_chans: int = 3, num_classes: int = 10) -> CifarResNet:
    """ResNet-32 (3 x 5 basic blocks, widths 16/32/64)."""
    return CifarResNet([16, 32, 64], [5, 5, 5], in_chans=in_chans, num_classes=num_classes)


def resnet56(*, in_chans: int = 3, num_classes: int = 10) -> CifarResNet:
    """ResNet-56 (3 x 9 basic blocks, widths 16/32/64)."""
    return CifarResNet([16, 32, 64], [9, 9, 9], in_chans=in_chans, num_classes=num_classes)


def resnet18_cifar(*, in_chans: int = 3, num_classes: int = 10) -> CifarResNet:
    """ResNet-18 for 32x32 inputs (3x3 stem, no max-pool): 11,173,962 parameters for 3 in, 10 classes."""
    return CifarResNet([64, 128, 256, 512], [2, 2, 2, 2], in_chans=in_chans, num_classes=num_classes)
