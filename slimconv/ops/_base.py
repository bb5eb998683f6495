"""Base class of every operator: the ``nn.Conv2d``-like signature and the deploy protocol."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from .._validate import padding_value, positive_int, square
from ..errors import UnsupportedLayerError


class SlimConv2d(nn.Module):
    """A drop-in replacement for ``nn.Conv2d`` (square kernel and stride, dilation 1).

    Subclasses call ``super().__init__(in_channels, out_channels, kernel_size, stride, padding)``
    and then build their parameters. They implement ``forward`` and ``fuse``; they may override
    ``training_only_parameters`` and ``_inherit_dense_weights``.

    Output spatial size equals ``nn.Conv2d(in, out, k, stride=s, padding=p)`` for every input.
    """

    op_name: ClassVar[str] = ""
    supports_groups: ClassVar[bool] = False
    #: True where ``from_conv`` carries nothing of the dense layer over (the layer must be trained).
    starts_untrained: ClassVar[bool] = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.out_channels = positive_int("out_channels", out_channels)
        self.kernel_size = square("kernel_size", kernel_size)
        self.stride = square("stride", stride)
        self.padding = padding_value(padding, self.kernel_size)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Spatial size of the output for an ``height x width`` input (that of ``nn.Conv2d``)."""
        k, s, p = self.kernel_size, self.stride, self.padding
        return (height + 2 * p - k) // s + 1, (width + 2 * p - k) // s + 1

    def fuse(self) -> nn.Module:
        """Return a new module computing this layer's eval-mode function at the lowest cost."""
        raise NotImplementedError(f"{type(self).__name__} must implement fuse()")

    def training_only_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters that the deploy form drops (counted apart by ``count_params``)."""
        return []

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )

    # -- model surgery -------------------------------------------------------------------
    @classmethod
    def _conv_arguments(cls, conv: nn.Conv2d) -> dict[str, Any]:
        """Constructor arguments that reproduce ``conv``'s geometry; raises if it has none."""
        name = cls.op_name or cls.__name__
        if conv.dilation != (1, 1):
            raise UnsupportedLayerError(f"{name} does not support dilation {conv.dilation}")
        if conv.padding_mode != "zeros":
            raise UnsupportedLayerError(f"{name} supports zero padding only, not {conv.padding_mode!r}")
        if isinstance(conv.padding, str):
            raise UnsupportedLayerError(f"{name} needs numeric padding, not {conv.padding!r}")
        if conv.groups != 1 and not cls.supports_groups:
            raise UnsupportedLayerError(f"{name} does not support grouped convolution (groups={conv.groups})")
        for attr in ("kernel_size", "stride", "padding"):
            value = getattr(conv, attr)
            if value[0] != value[1]:
                raise UnsupportedLayerError(f"{name} needs a square {attr}, got {value}")
        arguments: dict[str, Any] = dict(
            in_channels=conv.in_channels,
            out_channels=conv.out_channels,
            kernel_size=conv.kernel_size[0],
            stride=conv.stride[0],
            padding=conv.padding[0],
            bias=conv.bias is not None,
        )
        if conv.groups != 1:
            arguments["groups"] = conv.groups
        return arguments

    @classmethod
    def unsupported_reason(cls, conv: nn.Conv2d, **options: Any) -> str | None:
        """Why this operator cannot replace ``conv`` with ``options``, or ``None`` if it can."""
        try:
            arguments = cls._conv_arguments(conv)
            cls(**arguments, **options, device="meta")
        except ValueError as error:  # UnsupportedLayerError is a ValueError too
            return str(error)
        return None

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, **options: Any) -> SlimConv2d:
        """Build a replacement for ``conv`` on its device and dtype, inheriting weights if it can."""
        arguments = cls._conv_arguments(conv)
        layer = cls(**arguments, **options, device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            layer._inherit_dense_weights(conv)
        return layer

    def _inherit_dense_weights(self, conv: nn.Conv2d) -> None:
        """Take over what the dense convolution learned, where the operator can (default: nothing)."""
