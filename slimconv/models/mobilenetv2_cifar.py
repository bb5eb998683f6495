"""MobileNetV2 for 32x32 inputs (Sandler et al. 2018, CIFAR strides): the FLGC paper's network."""

from __future__ import annotations

from torch import Tensor, nn

# (expansion t, output channels c, blocks n, first stride s)
_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depthwise, 1x1 linear projection; residual at stride 1.

    The expansion conv is kept even when t = 1, and a stride-1 block whose channel count changes gets
    a 1x1 conv + BN shortcut (the layout of the CIFAR MobileNetV2 that FLGC's code trains).
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.stride = stride
        self.conv1 = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, stride, padding=1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU6(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride == 1 and in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class CifarMobileNetV2(nn.Module):
    """Stem 3x3 ``in_chans -> 32`` (stride 1), 17 inverted residual blocks, head 1x1 ``320 -> 1280``, FC."""

    def __init__(self, *, in_chans: int, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chans, 32, 3, 1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        blocks = []
        channels = 32
        for expansion, width, count, first_stride in _SETTINGS:
            for index in range(count):
                blocks.append(InvertedResidual(channels, width, expansion, first_stride if index == 0 else 1))
                channels = width
        self.layers = nn.Sequential(*blocks)
        self.conv2 = nn.Conv2d(channels, 1280, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        self.relu = nn.ReLU6(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(1280, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = self.relu(self.bn2(self.conv2(x)))
        return self.fc(self.pool(x).flatten(1))


def mobilenetv2_cifar(*, in_chans: int = 3, num_classes: int = 10) -> CifarMobileNetV2:
    """MobileNetV2 for 32x32 inputs: 2,296,922 parameters for 3 in, 10 classes."""
    return CifarMobileNetV2(in_chans=in_chans, num_classes=num_classes)
