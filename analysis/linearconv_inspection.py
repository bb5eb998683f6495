"""What a LinearConv layer (Kahatapitiya & Rodrigo, WACV 2021) holds: its primary filters and their
correlation (the quantity the paper's regulariser pushes down), the coefficients that make the
secondary filters, and the correlation of the composed weight the layer runs."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from slimconv._validate import instance_of
from slimconv.ops.linearconv import LinearConv2d

from .filters import FilterCorrelation, filter_correlation


@dataclass(frozen=True)
class LinearConvInspection:
    """``primary_correlation``: of the ``P`` primary filters (its ``regulariser`` is the layer's
    term of the paper's loss). ``composed_correlation``: of all ``N`` filters of the composed weight.
    ``coefficients``: ``S x P``, secondary filter ``i`` = ``sum_j coefficients[i, j] * primary j``."""

    primary_correlation: FilterCorrelation
    composed_correlation: FilterCorrelation
    coefficients: torch.Tensor
    num_primaries: int
    num_secondaries: int

    @property
    def regulariser(self) -> float:
        return self.primary_correlation.regulariser


def inspect_linearconv(layer: LinearConv2d) -> LinearConvInspection:
    """Primary and composed filter correlations and the coefficient matrix of a LinearConv ``layer``."""
    instance_of("layer", layer, LinearConv2d)
    with torch.no_grad():
        composed = layer.composed_weight().detach().cpu()
        coefficients = layer.coefficients.detach().cpu().float()
    return LinearConvInspection(
        primary_correlation=filter_correlation(layer.primary_weight.detach().cpu()),
        composed_correlation=filter_correlation(composed),
        coefficients=coefficients,
        num_primaries=layer.num_primary,
        num_secondaries=layer.num_secondary,
    )
