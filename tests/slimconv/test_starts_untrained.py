"""``starts_untrained`` says the truth for every operator: the dense weights reach ``from_conv``'s layer exactly
where the flag is False (the Plan page warns about the others)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimconv


def _built_from(op: str, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    dense = nn.Conv2d(16, 16, 3, padding=1, bias=False)
    torch.manual_seed(123)  # the operator's own initialisation is the same for both dense layers
    return slimconv.get_op(op).from_conv(dense).state_dict()


@pytest.mark.parametrize("op", slimconv.list_ops())
def test_the_dense_weights_reach_the_layer_unless_it_starts_untrained(op: str) -> None:
    first, second = _built_from(op, 1), _built_from(op, 2)
    same = all(torch.equal(first[key], second[key]) for key in first)
    assert same == slimconv.get_op(op).starts_untrained, op
