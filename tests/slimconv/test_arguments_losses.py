"""Arguments of the operators' training terms: FLGC balance, LinearConv regularisers and masks, PEDConv info-max."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import slimconv

from .._arguments import ARGUMENT_SETTINGS, NOT_MODULES, NOT_UNIT_FRACTIONS, rejects

LOSSES = [
    slimconv.flgc_balance_loss,
    slimconv.linearconv_correlation_loss,
    slimconv.linearconv_sparsity_loss,
    slimconv.pedconv_auxiliary_loss,
]


def model_with(op: str, layers: int, **options) -> nn.Sequential:
    """``layers`` operator layers 8 -> 8 (1x1 for FLGC, 3x3 otherwise) in a Sequential."""
    kernel = 1 if op == "flgc" else 3
    return nn.Sequential(*(slimconv.create_conv(op, 8, 8, kernel, **options) for _ in range(layers)))


@ARGUMENT_SETTINGS
@given(layers=st.integers(0, 3), groups=st.sampled_from([2, 4]))
def test_flgc_balance_loss_is_a_non_negative_scalar(layers, groups):
    loss = slimconv.flgc_balance_loss(model_with("flgc", layers, groups=groups))
    assert loss.shape == () and loss.detach() >= 0


@ARGUMENT_SETTINGS
@given(layers=st.integers(0, 3), variant=st.sampled_from(["full", "sparse"]))
def test_linearconv_losses_are_non_negative_scalars(layers, variant):
    model = model_with("linearconv", layers, variant=variant)
    for loss in (slimconv.linearconv_correlation_loss(model), slimconv.linearconv_sparsity_loss(model)):
        assert loss.shape == () and loss.detach() >= 0


@ARGUMENT_SETTINGS
@given(layers=st.integers(0, 3), step_size=st.floats(0.01, 1.0))
def test_sparsity_masks_are_updated_on_every_sparse_layer(layers, step_size):
    model = model_with("linearconv", layers, variant="sparse")
    assert slimconv.linearconv_update_sparsity_masks(model, step_size) == layers


@ARGUMENT_SETTINGS
@given(layers=st.integers(0, 2), batch=st.integers(2, 3))
def test_pedconv_auxiliary_loss_is_a_non_negative_scalar(layers, batch):
    model = model_with("pedconv", layers, infomax=True).train()
    model(torch.randn(batch, 8, 5, 5))
    loss = slimconv.pedconv_auxiliary_loss(model)
    assert loss.shape == () and loss.detach() >= 0


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES)
@pytest.mark.parametrize("loss", LOSSES, ids=lambda loss: loss.__name__)
def test_training_terms_reject_a_model_that_is_not_a_module(loss, model):
    rejects("model", loss, model)
    rejects("model", slimconv.linearconv_update_sparsity_masks, model)


@ARGUMENT_SETTINGS
@given(step_size=st.one_of(NOT_UNIT_FRACTIONS, st.just(0.0)), layers=st.integers(0, 1))
def test_sparsity_mask_step_size_is_checked_even_without_sparse_layers(step_size, layers):
    model = model_with("linearconv", layers, variant="sparse")
    rejects("step_size", slimconv.linearconv_update_sparsity_masks, model, step_size)
