"""Deploy: replace every layer that has a deploy form by it (duck-typed ``fuse()`` protocol); ``deploy_form``
for "the deploy form, or the model itself when it has none"."""

from __future__ import annotations

import copy
import warnings

from torch import nn

from ._host_norm import fold_host_batch_norms
from ._validate import boolean, nn_module


class NothingToDeployWarning(UserWarning):
    """``deploy`` found no layer with a deploy form: the model is returned unchanged (in eval mode)."""


def _fuse_children(module: nn.Module) -> int:
    fused = 0
    for name, child in module.named_children():
        fuse = getattr(child, "fuse", None)
        if callable(fuse):
            module.set_submodule(name, fuse().eval())
            fused += 1
        else:
            fused += _fuse_children(child)
    return fused


def deploy(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Return ``model`` in eval mode with every layer that defines ``fuse()`` replaced by its result.

    The result computes the same function as ``model.eval()`` (within float32 rounding) at the cost of
    the deploy forms. A BatchNorm fed only by a deploy form that can absorb it (SPConv's, e.g. a
    bottleneck's ``bn2``) is folded into that layer and replaced by ``nn.Identity``; see
    ``slimconv._host_norm``. A copy is changed unless ``inplace``. A model with no such layer is returned
    in eval mode, with a warning, since nothing was deployed.
    """
    nn_module("model", model)
    boolean("inplace", inplace)
    fuse = getattr(model, "fuse", None)
    if callable(fuse):
        return fuse().eval()
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    if _fuse_children(model) == 0:
        warnings.warn(
            f"deploy: {type(model).__name__} has no layer with a deploy form", NothingToDeployWarning, stacklevel=2
        )
    else:
        fold_host_batch_norms(model)
    return model


def has_deploy_form(model: nn.Module) -> bool:
    """Whether ``model`` or one of its layers defines ``fuse()`` (so ``deploy`` would change it)."""
    return any(callable(getattr(module, "fuse", None)) for module in nn_module("model", model).modules())


def deploy_form(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """What runs when ``model`` is deployed: ``deploy(model, inplace=inplace)`` when some layer has a deploy
    form, else ``model`` itself, unchanged (a dense model is its own deploy form: no copy, no warning).

    For measuring a model as deployed (MACs, latency, a profile) whatever it holds.
    """
    boolean("inplace", inplace)
    return deploy(model, inplace=inplace) if has_deploy_form(model) else model
