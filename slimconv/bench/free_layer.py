"""A stand-in for a convolution that costs nothing: the layers of a speed bound (Amdahl's limit)."""

from __future__ import annotations

import torch
from torch import nn


class FreeLayer(nn.Module):
    """Stands in for a convolution at no cost: returns one cached zero tensor of the conv's output shape.

    Zeros, not uninitialised memory: garbage could hold NaNs or denormals that slow the layers
    after it. The tensor is shared between calls; the models benchmarked only read it.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.out_channels = conv.out_channels
        self.geometry = (conv.kernel_size, conv.stride, conv.padding, conv.dilation)
        self._output: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.geometry
        height = (x.shape[2] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        width = (x.shape[3] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        shape = (x.shape[0], self.out_channels, height, width)
        cached = self._output
        if cached is None or cached.shape != shape or cached.dtype != x.dtype or cached.device != x.device:
            channels_last = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
            layout = torch.channels_last if channels_last else torch.contiguous_format
            self._output = torch.zeros(shape, dtype=x.dtype, device=x.device).contiguous(memory_format=layout)
        return self._output
