"""How much each channel of a layer matters to the class score (captum), to set against how
redundant the channel is: are the alike channels the unimportant ones?

- ``"ablation"``: the drop in the target score when the channel's whole map is set to 0
  (``LayerFeatureAblation``): ``C`` forward passes, ``perturbations_per_eval`` at a time.
- ``"conductance"``: layer conductance (Dhamdhere et al., 2018), the integrated-gradients share of
  the score that flows through the channel, summed over its positions (``LayerConductance``):
  ``n_steps`` path points, ``internal_batch_size`` at a time. The path runs from the black image
  (all zeros) and uses the trapezoid rule, whose points include both ends, so the conductances of
  all channels add up to the score difference (captum's default Gauss-Legendre points do not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from captum.attr import LayerConductance, LayerFeatureAblation
from torch import nn

from slimconv._validate import choice, positive_int, text

from .._running import Target, eval_mode, images_for, logits_of, resolve_targets, run_model
from ..hooks import hook_guard, resolve_layers


@dataclass(frozen=True)
class ChannelImportance:
    """``per_image``: ``B x C`` signed importance of each channel of ``layer_name`` for each image's
    target class; ``importance``: ``C``, the mean over images of its absolute value."""

    layer_name: str
    method: str
    per_image: torch.Tensor
    importance: torch.Tensor
    targets: torch.Tensor


def channel_importance(
    model: nn.Module,
    layer_name: str,
    images: torch.Tensor,
    target: Target = None,
    *,
    method: Literal["ablation", "conductance"] = "ablation",
    n_steps: int = 16,
    internal_batch_size: int = 16,
    perturbations_per_eval: int = 8,
) -> ChannelImportance:
    """Importance of every channel of ``layer_name`` (maps ``B x C x H x W``) for ``images``."""
    choice("method", method, ("ablation", "conductance"))
    positive_int("n_steps", n_steps)
    positive_int("internal_batch_size", internal_batch_size)
    positive_int("perturbations_per_eval", perturbations_per_eval)
    text("layer_name", layer_name)
    layer = resolve_layers(model, [layer_name])[layer_name]
    images = images_for(model, images)
    with hook_guard(model), eval_mode(model):
        with torch.no_grad():
            logits = logits_of(run_model(model, images))
        targets = resolve_targets(target, logits)
        if method == "ablation":
            per_image = _ablation(model, layer, images, targets, perturbations_per_eval)
        else:
            conductance = LayerConductance(model, layer).attribute(
                images,
                target=targets.to(images.device),
                n_steps=n_steps,
                internal_batch_size=internal_batch_size,
                method="riemann_trapezoid",
            )
            per_image = conductance.sum(dim=(2, 3))
    per_image = per_image.detach().to("cpu", torch.float32)
    return ChannelImportance(
        layer_name=layer_name,
        method=method,
        per_image=per_image,
        importance=per_image.abs().mean(dim=0),
        targets=targets,
    )


def _ablation(
    model: nn.Module, layer: nn.Module, images: torch.Tensor, targets: torch.Tensor, perturbations_per_eval: int
) -> torch.Tensor:
    """``B x C`` score drops, one class at a time: captum 0.9's LayerFeatureAblation rejects
    per-image targets when it batches several perturbations, an integer target it accepts."""
    channels = _output_channels(model, layer, images[:1])
    channel_mask = torch.arange(channels, device=images.device).view(1, channels, 1, 1)
    per_image = torch.empty(images.shape[0], channels, dtype=images.dtype, device=images.device)
    ablation = LayerFeatureAblation(model, layer)
    for target_class in targets.unique().tolist():
        selected = (targets == target_class).nonzero()[:, 0].to(images.device)
        with torch.no_grad():
            scores = ablation.attribute(
                images[selected],
                target=int(target_class),
                layer_mask=channel_mask,
                perturbations_per_eval=perturbations_per_eval,
            )
        per_image[selected] = scores[:, :, 0, 0]
    return per_image


def _output_channels(model: nn.Module, layer: nn.Module, image: torch.Tensor) -> int:
    """Channel count of ``layer``'s output, read from one forward pass (the hook is removed after)."""
    shapes: list[torch.Size] = []
    handle = layer.register_forward_hook(lambda module, args, output: shapes.append(output.shape))
    try:
        with torch.no_grad():
            model(image)
    finally:
        handle.remove()
    if not shapes or len(shapes[0]) != 4:
        raise ValueError("channel importance needs a layer whose output is B x C x H x W maps")
    return int(shapes[0][1])
