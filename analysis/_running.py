"""Running a model for analysis: eval mode that is restored, the model's device, target classes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from slimconv._validate import feature_maps, nn_module
from slimconv.profile import checked_forward

Target = int | Sequence[int] | torch.Tensor | None


@contextmanager
def eval_mode(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Run the block with ``model.eval()`` (if ``enabled``) and restore each module's mode after."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        if enabled:
            model.eval()
        yield
    finally:
        for module, training in modes:
            module.training = training


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU for a model without any)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def images_for(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``images`` (``B x C x H x W``) checked and moved to the model's device and dtype."""
    nn_module("model", model)
    images = feature_maps("images", images)
    device = model_device(model)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), images.dtype)
    return images.detach().to(device=device, dtype=dtype)


def run_model(model: nn.Module, images: torch.Tensor) -> object:
    """``model(images)``; images of the wrong channel count raise a ValueError naming ``images``, and so
    does an output with NaN or infinite values (every score, map and attribution after it would be NaN)."""
    output = checked_forward(model, images, argument="images")
    if isinstance(output, torch.Tensor) and output.is_floating_point() and not bool(torch.isfinite(output).all()):
        bad = (~torch.isfinite(output.detach().flatten(1))).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"the model's output holds NaN or infinite values for image(s) {bad[:8]}: its weights (or "
                         "a converted, untrained operator) overflow on these inputs, so nothing computed from it "
                         "would mean anything; use a trained model with finite weights")
    return output


def logits_of(output: object) -> torch.Tensor:
    """The model output as ``B x K`` class scores; anything else raises ValueError."""
    if not isinstance(output, torch.Tensor) or output.dim() != 2:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(f"the model must return class scores B x K, got {shape}")
    return output


def resolve_targets(target: Target, logits: torch.Tensor) -> torch.Tensor:
    """One class index per image (``B``, long): the given class(es), or the predicted class."""
    batch, classes = logits.shape
    if target is None:
        return logits.detach().argmax(dim=1).cpu()
    if isinstance(target, int) and not isinstance(target, bool):
        targets = torch.full((batch,), target, dtype=torch.long)
    else:
        targets = _integer_targets(target)
        if targets.numel() == 1:
            targets = targets.expand(batch).clone()
        if targets.numel() != batch:
            raise ValueError(f"target has {targets.numel()} entries for a batch of {batch} images")
    if bool(((targets < 0) | (targets >= classes)).any()):
        raise ValueError(f"target classes must be in [0, {classes - 1}], got {targets.tolist()}")
    return targets


def _integer_targets(target: object) -> torch.Tensor:
    """Class indices as a flat long tensor; floats and bools are refused rather than truncated."""
    message = f"target must be a class index, a sequence of B class indices or None, got {target!r}"
    if isinstance(target, (bool, str, bytes)):
        raise ValueError(message)
    try:
        values = torch.as_tensor(target)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(message) from None
    if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool or values.numel() == 0:
        raise ValueError(message)
    return values.detach().cpu().long().reshape(-1)
