"""Tiny models for the analysis tests (milliseconds per forward pass)."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """conv(3->8) -> BN -> ReLU(inplace) -> conv(8->8) -> ReLU -> GAP -> Linear(8->4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.conv2(x))
        return self.fc(self.pool(x).flatten(1))


class FailingNet(TinyNet):
    """TinyNet whose forward raises from the ``fail_on_call``-th call on (inside the network, after
    the first convolution, so hooks attached to it have fired)."""

    def __init__(self, fail_on_call: int = 1) -> None:
        super().__init__()
        self.fail_on_call = fail_on_call
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        x = self.relu1(self.bn1(self.conv1(x)))
        if self.calls >= self.fail_on_call:
            raise RuntimeError("planted failure")
        x = self.relu2(self.conv2(x))
        return self.fc(self.pool(x).flatten(1))


def images(batch: int = 2, size: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
