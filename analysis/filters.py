"""Redundancy in the weights of one layer: filter correlation (LinearConv's view), singular spectrum,
and how many primary filters a LinearConv would need (LinearConv, Kahatapitiya & Rodrigo, WACV 2021).

A weight ``N x C x k x k`` is read as ``N`` flattened filters of ``D = C k^2`` values. LinearConv
keeps ``P`` primary filters and makes every other filter a linear combination of them (no
intercept), so rebuilds here are uncentred: ``R^2 = 1 - |residual|^2 / |filter|^2`` (a zero filter
is rebuilt exactly). Primaries are chosen greedily by column-pivoted QR: each next primary is the
filter least explained by those already chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import scipy.linalg
import torch

from slimconv._validate import conv_weight, fraction, positive_int

from ._spectrum import effective_rank_from_singular_values
from .similarity import per_image_similarity


@dataclass(frozen=True)
class FilterCorrelation:
    """``matrix``: ``N x N`` Pearson correlation of the flattened filters (a constant filter has a
    zero row and column). ``regulariser``: LinearConv's correlation penalty ``sum |R - I|`` (the sum of
    ``|R_ij|`` over ``i != j``). ``mean_abs_off_diagonal``: its mean per pair. ``constant_filters``:
    ``N`` bool."""

    matrix: torch.Tensor
    regulariser: float
    mean_abs_off_diagonal: float
    constant_filters: torch.Tensor


@dataclass(frozen=True)
class FilterSpectrum:
    """``singular_values``: ``min(N, D)`` descending; ``cumulative_energy``: share of
    ``sum s^2`` in the first ``i + 1`` values; ``effective_rank`` (Roy & Vetterli) in [1, min(N, D)]."""

    singular_values: torch.Tensor
    cumulative_energy: torch.Tensor
    effective_rank: float

    def rank_for_energy(self, energy_share: float) -> int:
        """Fewest singular directions holding at least ``energy_share`` of the weight's energy."""
        fraction("energy_share", energy_share, low_open=False)
        reached = self.cumulative_energy >= energy_share - 1e-12
        return int(reached.nonzero()[0, 0]) + 1 if bool(reached.any()) else len(self.singular_values)


@dataclass(frozen=True)
class PrimaryRebuild:
    """How many LinearConv primaries rebuild the filters of a layer.

    ``primary_order``: ``N`` long, the filters in the order they become primaries.
    ``r2_by_primaries``: ``N x (N + 1)``, entry ``[j, p]`` = uncentred R^2 of filter ``j`` from the
    first ``p`` primaries. ``primaries_per_filter``: ``N`` long, the fewest primaries rebuilding each
    filter to ``r2_target``. ``primaries_needed``: the fewest rebuilding every filter to it.
    Parameters (without bias) of a dense layer and of a LinearConv (full coefficients) with that
    many primaries: ``P D + (N - P) P``; ``params_saved`` = dense - LinearConv (negative: no saving).
    """

    primary_order: torch.Tensor
    r2_by_primaries: torch.Tensor
    primaries_per_filter: torch.Tensor
    primaries_needed: int
    r2_target: float
    dense_params: int
    linearconv_params: int
    params_saved: int


def filter_correlation(weight: torch.Tensor) -> FilterCorrelation:
    """Pearson correlation of the flattened filters of ``weight`` (``N x C x k x k`` or ``N x D``)."""
    flat = conv_weight("weight", weight).cpu()
    matrix, constant = per_image_similarity(flat, "pearson")
    off_diagonal = matrix.abs().sum() - matrix.diagonal().abs().sum()
    pairs = flat.shape[0] * (flat.shape[0] - 1)
    return FilterCorrelation(
        matrix=matrix.float(),
        regulariser=float(off_diagonal),
        mean_abs_off_diagonal=float(off_diagonal / pairs) if pairs else 0.0,
        constant_filters=constant,
    )


def correlation_regulariser(weight: torch.Tensor) -> float:
    """LinearConv's regulariser ``sum |R - I|`` for one layer (``R``: Pearson correlation of its filters)."""
    return filter_correlation(weight).regulariser


def filter_spectrum(weight: torch.Tensor) -> FilterSpectrum:
    """Singular spectrum of the ``N x D`` matrix of flattened filters (uncentred)."""
    flat = conv_weight("weight", weight).cpu().double()
    values = torch.linalg.svdvals(flat)
    energy = values.square()
    total = energy.sum()
    cumulative = energy.cumsum(0) / total if total > 0 else torch.ones_like(energy)
    return FilterSpectrum(values, cumulative, effective_rank_from_singular_values(values))


def linearconv_params(num_filters: int, filter_size: int, num_primaries: int) -> int:
    """Weights of a LinearConv layer with full coefficients: ``P D + (N - P) P`` (bias excluded)."""
    positive_int("num_filters", num_filters)
    positive_int("filter_size", filter_size)
    if isinstance(num_primaries, bool) or not isinstance(num_primaries, int) or not 0 <= num_primaries <= num_filters:
        raise ValueError(f"num_primaries must be an integer in [0, num_filters={num_filters}], got {num_primaries!r}")
    return num_primaries * filter_size + (num_filters - num_primaries) * num_primaries


def primaries_needed(weight: torch.Tensor, r2_target: float = 0.95) -> PrimaryRebuild:
    """Greedy (pivoted QR) primary selection for ``weight`` (``N x C x k x k``) and the R^2 of every
    filter for every primary count; see :class:`PrimaryRebuild`."""
    fraction("r2_target", r2_target, low_open=False)
    flat = conv_weight("weight", weight).cpu().double()
    num_filters, filter_size = flat.shape
    _, r_factor, pivots = scipy.linalg.qr(flat.T.numpy(), mode="economic", pivoting=True)
    r_squares = torch.from_numpy(r_factor).square()  # rank x N, columns in pivot order
    tail = r_squares.flip(0).cumsum(0).flip(0)  # tail[p, j] = energy of column j left after p primaries
    energy = tail[0]
    rank = r_squares.shape[0]
    r2_pivoted = torch.ones(num_filters + 1, num_filters, dtype=torch.float64)
    safe_energy = torch.where(energy > 0, energy, torch.ones_like(energy))
    r2_pivoted[:rank] = torch.where(energy > 0, 1.0 - tail / safe_energy, torch.ones_like(tail))
    order = torch.from_numpy(pivots).long()
    r2 = torch.empty(num_filters, num_filters + 1, dtype=torch.float64)
    r2[order] = r2_pivoted.T
    r2.clamp_(0.0, 1.0)
    reached = r2 >= r2_target - 1e-9
    per_filter = reached.double().argmax(dim=1)  # first primary count reaching the target
    needed = int(per_filter.max())
    dense = num_filters * filter_size
    linear = linearconv_params(num_filters, filter_size, needed)
    return PrimaryRebuild(
        primary_order=order,
        r2_by_primaries=r2,
        primaries_per_filter=per_filter,
        primaries_needed=needed,
        r2_target=r2_target,
        dense_params=dense,
        linearconv_params=linear,
        params_saved=dense - linear,
    )
