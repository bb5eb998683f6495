"""The sidebar's Diagnostics: which weights are loaded (a fingerprint) and whether any hook stayed on the
shared model, both read from the cached model object on every run."""

from __future__ import annotations

import hashlib
import weakref

import streamlit as st
import torch
from torch import nn

import analysis

from .model_lock import exclusive
from .models import LoadedModel

FINGERPRINT_DIGITS = 12


def weights_fingerprint(model: nn.Module) -> str:
    """The first 12 hex digits of SHA-256 over ``model``'s state dict (each parameter's and buffer's name,
    dtype, shape and bytes, in order): equal weights give equal fingerprints, on any device and in any
    process (compare it with ``weights_fingerprint(slimconv.load_checkpoint(path).model)``)."""
    hasher = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        hasher.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        hasher.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return hasher.hexdigest()[:FINGERPRINT_DIGITS]


# model -> (state signature, fingerprint). Hashing a large model's weights on every rerun would cost
# a good part of a second; a tensor changed in place bumps its version counter, and a replaced one
# has another data pointer, so an unchanged signature means unchanged weights.
_KNOWN: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, str]] = weakref.WeakKeyDictionary()


def _state_signature(model: nn.Module) -> tuple:
    return tuple((name, tensor.data_ptr(), tensor._version) for name, tensor in model.state_dict().items())


def current_fingerprint(model: nn.Module) -> str:
    """``weights_fingerprint(model)``, recomputed only when a tensor of ``model`` changed since the last call."""
    signature = _state_signature(model)
    known = _KNOWN.get(model)
    if known is None or known[0] != signature:
        known = (signature, weights_fingerprint(model))
        _KNOWN[model] = known
    return known[1]


def render_diagnostics(model: LoadedModel) -> None:
    """A collapsed "Diagnostics" expander for ``model`` (call it inside the sidebar)."""
    with exclusive(model.model):  # between runs of other sessions: their hooks are not counted as left over
        fingerprint = current_fingerprint(model.model)
        hooks = analysis.attached_hook_count(model.model)
    with st.expander("Diagnostics", icon=":material/troubleshoot:"):
        st.markdown(f"Fingerprint: `{fingerprint}`",
                    help="First 12 hex digits of SHA-256 over the model's parameters and buffers: it names the "
                         "weights loaded, and stays the same while you use the app (no page changes the model).")
        st.markdown(f"Hooks attached: **{hooks}**",
                    help="Forward and backward hooks on any module of the model. Analyses attach them only "
                         "during a run, so this is 0.")
