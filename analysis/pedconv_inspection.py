"""What PEDConv (Hou & Kung, "Parameter Efficient Dynamic Convolution via Tensor Decomposition",
BMVC 2021) does per input: the factors ``gamma`` (filters), ``phi`` (input channels) and ``psi``
(kernel positions) that perturb the shared weight for each image, and how much they vary across
images (which filters and channels the input switches on and off).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from slimconv._validate import feature_maps, instance_of, nn_module, text
from slimconv.ops.pedconv import PEDConv2d

from ._layer_input import on_layer_input
from ._running import eval_mode, images_for, run_model
from .hooks import layer_hooks, resolve_layers


@dataclass(frozen=True)
class PEDConvInspection:
    """PEDConv factors for ``B`` images (sigmoid outputs in (0, 1), eval semantics: no noise).

    ``gamma``: ``B x R x N``; ``phi``: ``B x R x C``; ``psi``: ``B x R x k^2`` (row-major ``k x k``).
    ``*_std_over_images``: ``R x N``, ``R x C``, ``R x k^2`` standard deviation over the images
    (zeros for one image). ``kernel_size``: ``k``.
    """

    gamma: torch.Tensor
    phi: torch.Tensor
    psi: torch.Tensor
    gamma_std_over_images: torch.Tensor
    phi_std_over_images: torch.Tensor
    psi_std_over_images: torch.Tensor
    kernel_size: int

    @property
    def rank(self) -> int:
        return int(self.gamma.shape[1])

    @property
    def image_dependence(self) -> float:
        """How much the layer adapts to the image: the mean, over every factor (gamma, phi and psi
        of every rank term), of its standard deviation over the images; 0 for one image."""
        stds = (self.gamma_std_over_images, self.phi_std_over_images, self.psi_std_over_images)
        return float(torch.cat([t.flatten() for t in stds]).mean())


def _spread(values: torch.Tensor) -> torch.Tensor:
    return values.std(dim=0, unbiased=False)


def inspect_pedconv(layer: PEDConv2d, layer_input: torch.Tensor) -> PEDConvInspection:
    """The factors of ``layer`` for its input ``layer_input`` (``B x C x H x W``)."""
    instance_of("layer", layer, PEDConv2d)
    layer_input = feature_maps("layer_input", layer_input)
    if layer_input.shape[1] != layer.in_channels:
        raise ValueError(f"layer_input has {layer_input.shape[1]} channels, the layer takes {layer.in_channels}")
    parameter = layer.weight
    with torch.no_grad():
        attention = layer.attention(layer_input.to(parameter.device, parameter.dtype))
    gamma, phi, psi = (t.detach().to("cpu", torch.float32) for t in (attention.gamma, attention.phi, attention.psi))
    return PEDConvInspection(
        gamma=gamma,
        phi=phi,
        psi=psi,
        gamma_std_over_images=_spread(gamma),
        phi_std_over_images=_spread(phi),
        psi_std_over_images=_spread(psi),
        kernel_size=layer.kernel_size,
    )


def inspect_pedconv_in_model(model: nn.Module, layer_name: str, images: torch.Tensor) -> PEDConvInspection:
    """:func:`inspect_pedconv` for the PEDConv layer ``layer_name`` of ``model`` on ``images``
    (``B x 3 x H x W``): one forward pass in eval mode, the layer inspected on its exact input."""
    layer = resolve_layers(model, [text("layer_name", layer_name)])[layer_name]
    instance_of(f"layer {layer_name!r}", layer, PEDConv2d)
    return on_layer_input(model, layer_name, images, lambda layer_input: inspect_pedconv(layer, layer_input))


def inspect_pedconv_layers(model: nn.Module, images: torch.Tensor) -> dict[str, PEDConvInspection]:
    """:func:`inspect_pedconv` for every PEDConv layer of ``model`` on ``images`` (``B x 3 x H x W``),
    each on its exact input, from one forward pass in eval mode: ``{layer name: inspection}`` in
    module order (layers that did not run are left out). Raises ``ValueError`` if ``model`` has no
    PEDConv layer or one runs twice.
    """
    nn_module("model", model)
    names = [name for name, module in model.named_modules() if isinstance(module, PEDConv2d)]
    if not names:
        raise ValueError(f"model has no PEDConv layer ({type(model).__name__})")
    layers = dict(model.named_modules())
    found: dict[str, PEDConvInspection] = {}

    def inspect(name: str, layer_input: torch.Tensor) -> None:
        if name in found:
            raise ValueError(f"layer {name!r} ran twice in one forward pass: inspect layers that run once")
        found[name] = inspect_pedconv(layers[name], layer_input)

    with eval_mode(model), layer_hooks(model, names, inspect, of="input"), torch.no_grad():
        run_model(model, images_for(model, images))
    return {name: found[name] for name in names if name in found}


def pedconv_image_dependence(model: nn.Module, images: torch.Tensor) -> dict[str, float]:
    """How much each PEDConv layer of ``model`` adapts to the image: ``{layer name: spread}``.

    The spread is :attr:`PEDConvInspection.image_dependence` of the layer on ``images``
    (``B x 3 x H x W``), from one forward pass (:func:`inspect_pedconv_layers`). A trained model may
    adapt in a few layers only, and those are the ones worth looking at. Raises ``ValueError`` if
    ``model`` has no PEDConv layer.
    """
    return {name: found.image_dependence for name, found in inspect_pedconv_layers(model, images).items()}
