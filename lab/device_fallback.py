"""Every model run of the app goes through :func:`run_models`: it takes turns on the shared models (see
:mod:`lab.model_lock`) and, when the GPU runs out of memory, frees the GPU's cache, says so and runs the
same computation again on CPU copies of the models."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Callable
from typing import TypeVar

import streamlit as st
import torch
from torch import nn

from .model_lock import exclusive
from .models import LoadedModel

T = TypeVar("T")
MAX_CACHED_CPU_COPIES = 2


def cpu_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` on the CPU that allocates nothing on the GPU (which may be full): each parameter
    and buffer is copied to the CPU first and handed to ``deepcopy`` as the copy of the original."""
    copies: dict[int, torch.Tensor] = {}
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        on_cpu = tensor.detach().to("cpu", copy=True)
        copies[id(tensor)] = nn.Parameter(on_cpu, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else on_cpu
    return copy.deepcopy(module, copies).cpu()


@st.cache_resource(max_entries=MAX_CACHED_CPU_COPIES, show_spinner="Copying the model to the CPU ...")
def _cpu_twin(key: str, _model: LoadedModel) -> LoadedModel:
    return dataclasses.replace(_model, key=f"{key}>cpu", model=cpu_copy(_model.model), device="cpu")


def on_cpu(model: LoadedModel) -> LoadedModel:
    """``model`` itself when it is on the CPU, else a cached CPU copy of it (the original is untouched)."""
    return model if model.device == "cpu" else _cpu_twin(model.key, model)


def run_models(what: str, compute: Callable[..., T], *models: LoadedModel) -> T:
    """``compute(*models)``, holding the models; on ``torch.OutOfMemoryError`` from a GPU, the GPU's cache is
    freed, an ``st.warning`` says "GPU ran out of memory for ``what``; ran it on the CPU instead" and the
    result is ``compute`` of the models' CPU copies. ``compute`` must put its inputs on each model's
    ``device`` (as :func:`lab.selection.model_batch` does). Out of memory on the CPU propagates."""
    with exclusive(*(loaded.model for loaded in models)):
        try:
            return compute(*models)
        except torch.OutOfMemoryError:
            if all(loaded.device == "cpu" for loaded in models):
                raise
        # Past the except block, the failed run's traceback (and the GPU tensors its frames hold) is gone.
        torch.cuda.empty_cache()
        fallback = [on_cpu(loaded) for loaded in models]
    st.warning(f"GPU ran out of memory for {what}; ran it on the CPU instead.", icon=":material/memory:")
    with exclusive(*(loaded.model for loaded in fallback)):
        return compute(*fallback)
