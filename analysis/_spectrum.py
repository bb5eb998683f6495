"""Effective rank of a spectrum and eigenvalues of a symmetric matrix (shared by map and filter analyses)."""

from __future__ import annotations

import torch


def effective_rank_from_singular_values(singular_values: torch.Tensor) -> float:
    """Roy & Vetterli (2007) effective rank: ``exp(entropy(s / sum(s)))``, in [1, len(s)]; 0 if s = 0."""
    values = singular_values.double().clamp_min(0.0)
    total = values.sum()
    if total <= 0:
        return 0.0
    shares = values[values > 0] / total
    return float(torch.exp(-(shares * shares.log()).sum()))


def symmetric_eigenvalues(matrix: torch.Tensor) -> torch.Tensor:
    """Eigenvalues (descending) of a symmetric PSD matrix, computed in float64. Values below the
    rounding floor of the matrix's own dtype (``eps * C * largest``, as numpy's ``matrix_rank``)
    are set to 0, so a float32 matrix's rounding noise does not count as rank."""
    values = torch.linalg.eigvalsh(matrix.double()).flip(0).clamp_min(0.0)
    floor = torch.finfo(matrix.dtype).eps * matrix.shape[0] * float(values[0]) if len(values) else 0.0
    return torch.where(values > floor, values, torch.zeros_like(values))


def gram_eigenvalues(gram: torch.Tensor, *, upper: bool = False) -> torch.Tensor:
    """:func:`symmetric_eigenvalues` computed in the Gram matrix's own dtype (float32 is about twice as
    fast as float64 and its rounding floor is the one applied anyway), returned as float64. Only the
    lower triangle is read, or only the upper one if ``upper``."""
    values = torch.linalg.eigvalsh(gram, UPLO="U" if upper else "L").flip(0).clamp_min(0.0).double()
    floor = torch.finfo(gram.dtype).eps * gram.shape[0] * float(values[0]) if len(values) else 0.0
    return torch.where(values > floor, values, torch.zeros_like(values))
