"""Capture the activations (and gradients) of any set of layers of any model for a batch of images.

Memory bound (documented subsampling): a ``B x C x H x W`` map whose ``C * H * W`` exceeds
``max_values_per_image`` is average-pooled (``adaptive_avg_pool2d``, area averaging) to the largest
``H' x W'`` of the same aspect ratio with ``C * H' * W' <= max_values_per_image``. Channels are never
dropped, so every channel-by-channel result stays complete; pooling keeps each channel's mean
(and so Grad-CAM's channel weights) and smooths detail finer than the pooling window. With the
default of 2**20 values (4 MiB per image in float32), every map of ResNet-50 at 224 x 224 is kept
at full size and a 2048-channel layer is pooled only above 22 x 22.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from slimconv._validate import boolean, choice, positive_int

from ._running import Target, eval_mode, images_for, logits_of, resolve_targets, run_model
from .hooks import layer_hooks

DEFAULT_MAX_VALUES_PER_IMAGE = 2**20


@dataclass(frozen=True)
class CapturedActivations:
    """What the named layers produced (or received) for one batch, on CPU in float32.

    ``activations[name]``: ``B x C x H' x W'`` for convolutional maps (``H' x W'`` smaller than
    ``original_sizes[name]`` only when subsampled, see the module docstring); other tensors as the
    layer made them. ``gradients[name]``: same shape, the gradient of the summed target-class scores
    with respect to that tensor (empty unless asked). ``output``: the model's output if it is a
    tensor (``B x K`` class scores for a classifier), else ``None``. ``targets``: ``B`` class
    indices whose scores were differentiated (``None`` without gradients).
    """

    activations: dict[str, torch.Tensor]
    gradients: dict[str, torch.Tensor]
    original_sizes: dict[str, tuple[int, ...]]
    output: torch.Tensor | None
    targets: torch.Tensor | None
    of: str

    def was_subsampled(self, name: str) -> bool:
        """Whether layer ``name``'s maps were pooled to respect the memory bound."""
        if name not in self.activations:
            raise ValueError(f"name must be one of the captured layers {list(self.activations)}, got {name!r}")
        return tuple(self.activations[name].shape[2:]) != tuple(self.original_sizes[name])


def bound_map_size(maps: torch.Tensor, max_values_per_image: int = DEFAULT_MAX_VALUES_PER_IMAGE) -> torch.Tensor:
    """Average-pool ``B x C x H x W`` maps so that ``C * H' * W' <= max_values_per_image``.

    Tensors that are not 4-D, and maps already within the bound, are returned unchanged.
    """
    positive_int("max_values_per_image", max_values_per_image)
    if not isinstance(maps, torch.Tensor):
        raise ValueError(f"maps must be a torch.Tensor (B x C x H x W), got {type(maps).__name__}")
    if maps.dim() != 4:
        return maps
    channels, height, width = maps.shape[1:]
    if channels * height * width <= max_values_per_image:
        return maps
    if channels > max_values_per_image:
        raise ValueError(
            f"a map with {channels} channels cannot fit max_values_per_image={max_values_per_image} "
            f"even at 1 x 1: raise max_values_per_image to at least {channels}"
        )
    factor = math.sqrt(max_values_per_image / (channels * height * width))
    new_height, new_width = max(1, int(height * factor)), max(1, int(width * factor))
    while channels * new_height * new_width > max_values_per_image:  # rounding of a 1-pixel side
        new_height, new_width = max(1, new_height - 1), max(1, new_width - 1)
    return F.adaptive_avg_pool2d(maps, (new_height, new_width))


def capture_activations(
    model: nn.Module,
    images: torch.Tensor,
    layer_names: Sequence[str],
    *,
    of: Literal["output", "input"] = "output",
    with_gradients: bool = False,
    target: Target = None,
    max_values_per_image: int = DEFAULT_MAX_VALUES_PER_IMAGE,
    use_eval_mode: bool = True,
) -> CapturedActivations:
    """Run ``model`` once on ``images`` (``B x 3 x H x W``) and keep what the named layers saw.

    ``of="output"`` keeps each layer's output, ``"input"`` its first input. With
    ``with_gradients=True`` (outputs only), the gradient of the sum over images of the ``target``
    class score (default: each image's predicted class) is kept too; the model must then return
    ``B x K`` class scores. The model runs in eval mode
    unless ``use_eval_mode=False``; its modes are restored after, and every hook is removed, even
    when the forward pass fails. Each layer must run exactly once per forward pass.
    """
    choice("of", of, ("output", "input"))
    boolean("with_gradients", with_gradients)
    boolean("use_eval_mode", use_eval_mode)
    if with_gradients and of == "input":
        raise ValueError("gradients are captured for layer outputs only: use of='output'")
    positive_int("max_values_per_image", max_values_per_image)
    images = images_for(model, images)
    if with_gradients:
        images.requires_grad_(True)

    kept: dict[str, torch.Tensor] = {}
    sizes: dict[str, tuple[int, ...]] = {}
    graph_tensors: dict[str, torch.Tensor] = {}

    def keep(name: str, tensor: torch.Tensor) -> torch.Tensor | None:
        if name in kept:
            raise ValueError(f"layer {name!r} ran twice in one forward pass: capture layers that run once")
        sizes[name] = tuple(tensor.shape[2:])
        bounded = bound_map_size(tensor.detach(), max_values_per_image)
        kept[name] = bounded.to(device="cpu", dtype=torch.float32, copy=True)
        if not with_gradients:
            return None
        graph_tensors[name] = tensor
        return tensor.clone()  # later in-place ops (ReLU(inplace=True)) act on the clone, not on this

    with eval_mode(model, use_eval_mode), layer_hooks(model, layer_names, keep, of=of) as modules:
        with torch.set_grad_enabled(with_gradients):
            output = run_model(model, images)
    missing = [name for name in modules if name not in kept]
    if missing:
        raise ValueError(f"layers {missing} did not run in the forward pass of this model")

    gradients: dict[str, torch.Tensor] = {}
    targets = None
    if with_gradients:
        logits = logits_of(output)
        targets = resolve_targets(target, logits)
        score = logits.gather(1, targets.to(logits.device)[:, None]).sum()
        names = list(graph_tensors)
        grads = torch.autograd.grad(score, [graph_tensors[n] for n in names], allow_unused=True)
        for name, grad in zip(names, grads, strict=True):
            grad = torch.zeros_like(graph_tensors[name]) if grad is None else grad
            gradients[name] = bound_map_size(grad, max_values_per_image).to("cpu", torch.float32, copy=True)
    return CapturedActivations(
        activations={name: kept[name] for name in modules},
        gradients=gradients,
        original_sizes={name: sizes[name] for name in modules},
        output=output.detach().to("cpu", torch.float32, copy=True) if isinstance(output, torch.Tensor) else None,
        targets=targets,
        of=of,
    )
