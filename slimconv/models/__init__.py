"""The model zoo: CIFAR-style reference networks and every torchvision classification model."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from .._validate import boolean, positive_int
from ..convert import convert
from ..policies import Policy
from ..weight_files import load_state_dict_strictly, read_state_dict
from .mobilenetv2_cifar import mobilenetv2_cifar
from .resnet_cifar import resnet18_cifar, resnet20, resnet32, resnet56
from .vgg_cifar import vgg11_cifar, vgg16_cifar

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

_CIFAR_MODELS: dict[str, Callable[..., nn.Module]] = {
    f.__name__: f for f in (resnet20, resnet32, resnet56, resnet18_cifar, vgg11_cifar, vgg16_cifar, mobilenetv2_cifar)
}


def _torchvision():
    """:mod:`.torchvision_models`, imported on first use: importing torchvision costs about a second (its
    ``ops`` pull in ``torch._dynamo``), which the CIFAR zoo and the app's first page do not need."""
    from . import torchvision_models

    return torchvision_models


def _is_weights_enum(value: object) -> bool:
    models = sys.modules.get("torchvision.models")  # a WeightsEnum exists only once torchvision is imported
    return models is not None and isinstance(value, models.WeightsEnum)


def list_models(*, include_torchvision: bool = True) -> list[str]:
    """The CIFAR zoo's names, then torchvision's classification models (``include_torchvision``)."""
    boolean("include_torchvision", include_torchvision)
    names = list(_CIFAR_MODELS)
    if include_torchvision:
        names += [n for n in _torchvision().torchvision_classification_models() if n not in _CIFAR_MODELS]
    return names


def is_model_name(name: str) -> bool:
    """Whether ``name`` is in :func:`list_models` (a CIFAR zoo name is found without importing torchvision)."""
    return name in _CIFAR_MODELS or name in _torchvision().torchvision_classification_models()


def create_model(
    name: str,
    *,
    op: str | None = None,
    policy: Policy | None = None,
    in_chans: int = 3,
    num_classes: int | None = None,
    weights: str | Path | WeightsEnum | None = None,
    **options: Any,
) -> nn.Module:
    """Build a zoo or torchvision model, optionally with its convolutions replaced by operator ``op``.

    ``num_classes`` defaults to 10 for the CIFAR zoo and to the weights' classes (1000) for torchvision.
    ``weights``: ``None`` (random), a torchvision weights name such as ``"DEFAULT"`` (downloaded), or
    the path of a state dict file (``.pth``/``.safetensors``) for the dense architecture. The operator
    is applied after loading, so converted layers inherit the dense weights where they can.
    ``policy`` and ``options`` go to ``convert`` (default policy: the operator paper's placement).
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a model name (a string), got {name!r}; see slimconv.list_models()")
    positive_int("in_chans", in_chans)
    if num_classes is not None:
        positive_int("num_classes", num_classes)
    if weights is not None and not (isinstance(weights, (str, Path)) or _is_weights_enum(weights)):
        raise ValueError(f"weights must be None, a torchvision weights name or enum, or a file path, got {weights!r}")
    if name in _CIFAR_MODELS:
        model = _CIFAR_MODELS[name](in_chans=in_chans, num_classes=num_classes or 10)
        if weights is not None:
            if _is_weights_enum(weights) or not Path(weights).suffix:
                raise ValueError(f"{name} has no torchvision weights; pass the path of a state dict file")
            load_state_dict_strictly(model, read_state_dict(weights), str(weights))
    elif name in _torchvision().torchvision_classification_models():
        model = _torchvision().build_torchvision_model(name, weights=weights, in_chans=in_chans,
                                                       num_classes=num_classes)
    else:
        raise ValueError(f"unknown model {name!r}; see slimconv.list_models()")
    if op is None:
        if policy is not None or options:
            raise ValueError("policy and operator options need op=...")
        return model
    return convert(model, op, policy=policy, inplace=True, **options)


__all__ = ["create_model", "list_models"]
