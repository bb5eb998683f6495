"""Random valid and invalid tensors for the analysis argument tests (small: milliseconds per call)."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from analysis import channel_similarity

NOT_TENSORS = st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.floats(0, 1), max_size=3))


def seeded_randn(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@st.composite
def feature_maps(draw, *, batch=(1, 3), channels=(2, 6), side=(2, 6)) -> torch.Tensor:
    """``B x C x H x W`` float32 maps with random sizes in the given (low, high) ranges."""
    shape = [draw(st.integers(*bounds)) for bounds in (batch, channels, side, side)]
    return seeded_randn(draw(st.integers(0, 2**16)), *shape)


@st.composite
def bad_tensors(draw, *, dims: tuple[int, ...], floating: bool = True) -> object:
    """Something a function taking a ``len(dims)``-D tensor of one of ``dims`` dimensions must refuse:
    no tensor, another dimension count, an empty tensor, an integer tensor, or NaN / infinity inside."""
    kind = draw(st.sampled_from(["type", "ndim", "empty", "dtype", "non-finite"] if floating else ["type", "ndim"]))
    if kind == "type":
        return draw(NOT_TENSORS)
    if kind == "ndim":
        ndim = draw(st.integers(0, 5).filter(lambda n: n not in dims))
        return torch.randn(tuple(draw(st.integers(1, 3)) for _ in range(ndim)))
    ndim = draw(st.sampled_from(dims))
    shape = [draw(st.integers(1, 3)) for _ in range(ndim)]
    if kind == "empty":
        shape[draw(st.integers(0, ndim - 1))] = 0
        return torch.randn(*shape)
    if kind == "dtype":
        return torch.randint(-3, 3, shape)
    values = torch.randn(*shape)
    values.view(-1)[draw(st.integers(0, values.numel() - 1))] = draw(st.sampled_from([float("nan"), float("inf")]))
    return values


@st.composite
def bad_square_matrices(draw) -> object:
    """Not a square, non-empty, finite floating-point matrix."""
    if draw(st.booleans()):
        rows = draw(st.integers(1, 4))
        return torch.randn(rows, draw(st.integers(1, 4).filter(lambda columns: columns != rows)))
    return draw(bad_tensors(dims=(2,)))


@st.composite
def similarity_matrices(draw, *, channels=(1, 6)) -> torch.Tensor:
    """A valid ``C x C`` Pearson similarity: that of random maps."""
    return channel_similarity(draw(feature_maps(channels=channels, side=(3, 5)))).matrix
