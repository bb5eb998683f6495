"""Any torchvision classification model by name, through torchvision's own builders and weights API."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum

from ..errors import WeightsUnavailableError, download_failure
from ..weight_files import load_state_dict_strictly, read_state_dict

_WEIGHT_FILE_SUFFIXES = {".pth", ".pt", ".safetensors"}


def torchvision_classification_models() -> list[str]:
    """Names of torchvision's image classification builders (``resnet18``, ``vgg16``, ...)."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def resolve_weights(name: str, weights: str | WeightsEnum) -> WeightsEnum:
    """Turn ``"DEFAULT"``, ``"IMAGENET1K_V1"`` or ``"ResNet18_Weights.IMAGENET1K_V1"`` into the enum."""
    if isinstance(weights, WeightsEnum):
        return weights
    enum = torchvision.models.get_model_weights(name)
    member = weights.split(".")[-1]
    try:
        return enum[member] if member != "DEFAULT" else enum.DEFAULT
    except KeyError:
        choices = ", ".join(["DEFAULT", *enum.__members__])
        raise ValueError(f"unknown weights {weights!r} for {name}; choose one of {choices}") from None


def build_torchvision_model(
    name: str,
    *,
    weights: str | Path | WeightsEnum | None,
    in_chans: int,
    num_classes: int | None,
) -> nn.Module:
    """Build ``name`` with torchvision, with pretrained weights downloaded or read from a local file.

    ``weights`` is ``None`` (random init), a torchvision weights name/enum (downloaded into torch's
    cache), or the path of a ``.pth``/``.safetensors`` state dict for this architecture (offline use).
    A different ``num_classes`` than the weights' gets a new, untrained classifier; ``in_chans`` other
    than 3 gets a new first conv whose weights are the pretrained RGB filters averaged over colour.
    """
    if isinstance(weights, Path) or (
        isinstance(weights, str) and Path(weights).suffix in {".pth", ".pt", ".safetensors"}
    ):
        model = torchvision.models.get_model(name, weights=None)
        load_state_dict_strictly(model, read_state_dict(weights), str(weights))
    elif weights is not None:
        enum = resolve_weights(name, weights)
        try:
            model = torchvision.models.get_model(name, weights=enum)
        except (OSError, RuntimeError) as error:  # URLError is an OSError; hash mismatch a RuntimeError
            raise WeightsUnavailableError(
                f"could not download {enum}: {download_failure(error, enum.url)}. Download {enum.url} on a "
                "machine with internet and pass its path as weights=..., or weights=None for random weights"
            ) from None
    else:
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes or 1000)
    if num_classes is not None:
        _replace_classifier(model, num_classes)
    if in_chans != 3:
        _replace_stem(model, in_chans)
    return model


def _layers_of_type(model: nn.Module, kind: type[nn.Module]) -> list[tuple[str, nn.Module]]:
    found = [(name, module) for name, module in model.named_modules() if isinstance(module, kind)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no {kind.__name__} layer to adapt")
    return found


def _replace_classifier(model: nn.Module, num_classes: int) -> None:
    name, linear = _layers_of_type(model, nn.Linear)[-1]
    if linear.out_features != num_classes:
        head = nn.Linear(linear.in_features, num_classes, bias=linear.bias is not None)
        model.set_submodule(name, head)


def _replace_stem(model: nn.Module, in_chans: int) -> None:
    name, conv = _layers_of_type(model, nn.Conv2d)[0]
    stem = nn.Conv2d(
        in_chans,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        conv.bias is not None,
    )
    with torch.no_grad():
        # Spreading the colour filters' mean over the new channels keeps the response to a grey image.
        stem.weight.copy_(conv.weight.mean(1, keepdim=True).expand_as(stem.weight) * (3 / in_chans))
        if conv.bias is not None:
            stem.bias.copy_(conv.bias)
    model.set_submodule(name, stem)
