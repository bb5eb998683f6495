"""How alike the channels of one layer are: a C x C similarity matrix of their feature maps.

Each image gives its own matrix (the maps of one image are compared position by position); over a
batch the matrices are aggregated by mean, standard deviation, minimum and maximum. A pair that is
alike on every image (high minimum) is structural redundancy: the filters themselves make the maps
alike. A pair alike on some images only (high maximum, low minimum) is image-specific.

Metrics: ``"pearson"`` (correlation of the maps: invariant to a per-channel affine change, so a
scaled or shifted copy scores 1 and a sign flip -1; ``r**2`` is the R^2 of the best affine rebuild
of one map from the other) and ``"cosine"`` (of the uncentred maps: a shifted copy scores below 1).
SSIM is not offered: its global form is Pearson times luminance and contrast terms that penalise
exactly the per-channel scale and shift a cheap operation restores for free, and its windowed form
costs C^2 * H * W * window per image. A channel that is constant over an image (dead) has no
defined similarity there: its row and column, diagonal included, are 0 for that image, and
``constant_share`` reports it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from slimconv._validate import channel_rows, choice, feature_maps, finite_reduction

from .numeric_warnings import AnalysisWarning

SimilarityMetric = Literal["pearson", "cosine"]
METRICS: tuple[str, ...] = ("pearson", "cosine")

# A channel whose (centred, for Pearson) norm is below this share of the layer's RMS channel norm
# counts as constant on that image.
_CONSTANT_RELATIVE_NORM = 1e-6
_CHUNK_VALUES = 1 << 23  # float64 values per batched chunk of images (64 MB)
# A float64 reduction of float32 values casts what it reads. Over a block of this many values at a
# time the cast stays below glibc's 32 MB limit for reusing freed memory; over 8 images of a
# 64 x 112 x 112 layer at once it mapped and faulted in 51 MB per call (19 ms, against 0.4 ms for
# the float32 reduction itself).
_REDUCTION_BLOCK_VALUES = 1 << 20


@dataclass(frozen=True)
class ChannelSimilarity:
    """Channel-by-channel similarity of one layer's maps, aggregated over ``num_images`` images.

    ``matrix``, ``std_over_images``, ``min_over_images``, ``max_over_images``: ``C x C`` float32
    (mean, standard deviation, minimum and maximum over images of the per-image matrices).
    ``constant_share``: ``C``, share of the images on which the channel was constant. For one
    image, the minimum and maximum are the matrix itself (the same tensor).
    """

    matrix: torch.Tensor
    std_over_images: torch.Tensor
    min_over_images: torch.Tensor
    max_over_images: torch.Tensor
    constant_share: torch.Tensor
    metric: str
    num_images: int
    positions_per_image: int

    @property
    def channels(self) -> int:
        return int(self.matrix.shape[0])

    def constant_note(self) -> str | None:
        """What the zero rows of the matrix mean: channels constant on every image (no similarity defined);
        ``None`` when every channel varies on some image."""
        dead = int((self.constant_share >= 1.0).sum())
        if dead == 0:
            return None
        if dead == self.channels:
            return (f"Every one of the {self.channels} channels is constant on every image (zero variance), so no "
                    "similarity is defined and the matrix is all zero; try other images or another layer.")
        return (f"{dead} of {self.channels} channels are constant on every image (zero variance: dead channels); "
                "their rows and columns are 0, not a measured similarity.")


def _normalised_rows(flat: torch.Tensor, metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``... x C x L`` float64 rows -> unit rows (centred for Pearson; constant ones zero) and the
    ``... x C`` bool mask of constant rows (relative to the RMS norm over the ``C`` rows)."""
    if metric == "pearson":
        flat = flat - flat.mean(dim=-1, keepdim=True)
    norms = flat.norm(dim=-1)
    rms_norm = norms.square().mean(dim=-1, keepdim=True).sqrt()
    constant = norms <= _CONSTANT_RELATIVE_NORM * rms_norm
    unit = torch.where(constant[..., None], torch.zeros_like(flat), flat / norms.clamp_min(1e-300)[..., None])
    return unit, constant


def normalised_channels(maps: torch.Tensor, metric: SimilarityMetric = "pearson") -> tuple[torch.Tensor, torch.Tensor]:
    """One image's maps ``C x H x W`` (or ``C x L``) as ``C x L`` float64 rows of unit norm, centred
    for Pearson, so that ``rows @ rows.T`` is the similarity matrix. Constant channels are zero rows;
    the ``C`` bool mask of them is returned too."""
    choice("metric", metric, METRICS)
    return _normalised_rows(channel_rows("maps", maps).reshape(maps.shape[0], -1).double(), metric)


def _float64_row_reduction(reduce: Callable[[torch.Tensor], torch.Tensor], flat: torch.Tensor) -> torch.Tensor:
    """``reduce`` (rows ``R x L`` -> ``R`` float64) over the rows of ``B x C x L`` values, a block of
    rows at a time (see ``_REDUCTION_BLOCK_VALUES``): the ``B x C`` results."""
    rows = flat.reshape(-1, flat.shape[-1])
    per_block = max(1, _REDUCTION_BLOCK_VALUES // max(rows.shape[1], 1))
    if per_block >= rows.shape[0]:
        return reduce(rows).view(flat.shape[:-1])
    blocks = [reduce(rows[i : i + per_block]) for i in range(0, rows.shape[0], per_block)]
    return torch.cat(blocks).view(flat.shape[:-1])


# Rows of U per strip of upper_gram: a strip's product reaches only the columns from its first row on
_GRAM_STRIP_ROWS = 256


def upper_gram(units: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """The upper triangle, diagonal included, of ``units @ units.T`` (``C x L`` -> ``C x C``), written
    into ``out``; below the diagonal, only the strips' diagonal blocks are written, the rest is left as
    it was (garbage, for a fresh ``out``).

    One GEMM per strip of rows, each from the strip's first row on: for ``k`` strips, ``(k + 1) / 2k``
    of the full product's multiply-adds (56% for 2048 channels), the same values.
    """
    channels = units.shape[0]
    for start in range(0, channels, _GRAM_STRIP_ROWS):
        strip = slice(start, start + _GRAM_STRIP_ROWS)
        torch.mm(units[strip], units[start:].T, out=out[strip, start:])
    return out


def stacked_unit_channels(
    maps: torch.Tensor, metric: SimilarityMetric = "pearson"
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`normalised_channels` of every image at once, for the report's fast route: ``B x C x H x W``
    maps give the ``C x (B H W)`` float32 rows of the images side by side, and the ``B x C`` bool mask
    of constant channels.

    Means and norms are reduced in float64 (a constant channel centres to exact zeros, as there);
    the rows themselves stay in float32, the precision of the maps. With ``U`` these rows,
    ``U U^T / B`` is the mean over images of the per-image similarity matrices (before their clamp
    to [-1, 1] and their diagonal). NaN or infinity in ``maps`` raises ``ValueError``, found in those
    reductions (``finite_reduction``): the maps are read three times, not four.
    """
    batch, channels = maps.shape[:2]
    flat = maps.reshape(batch, channels, -1).float()
    if metric == "pearson":
        means = _float64_row_reduction(lambda rows: rows.mean(dim=1, dtype=torch.float64), flat)
        flat = flat - finite_reduction("maps", means).float()[..., None]
    norms = _float64_row_reduction(lambda rows: torch.linalg.vector_norm(rows, dim=1, dtype=torch.float64), flat)
    norms = finite_reduction("maps", norms)  # B x C
    rms_norm = norms.square().mean(dim=1, keepdim=True).sqrt()
    constant = norms <= _CONSTANT_RELATIVE_NORM * rms_norm
    scale = torch.where(constant, 0.0, 1.0 / norms.clamp_min(1e-300)).float()  # constant rows become zero
    # scaled straight into the C x B x L layout: one pass, where scaling and then transposing took two
    unit = flat.new_empty(channels, batch, flat.shape[2])
    torch.mul(flat.transpose(0, 1), scale.T[..., None], out=unit)
    return unit.view(channels, -1), constant


def per_image_similarity(maps: torch.Tensor, metric: SimilarityMetric = "pearson") -> tuple[torch.Tensor, torch.Tensor]:
    """Similarity of the channels of one image's maps ``C x H x W`` (or ``C x L``).

    Returns the ``C x C`` float64 matrix and a ``C`` bool mask of constant channels.
    """
    unit, constant = normalised_channels(maps, metric)
    matrix = (unit @ unit.T).clamp_(-1.0, 1.0)
    matrix.diagonal().copy_((~constant).double())
    return matrix, constant


def channel_similarity(maps: torch.Tensor, metric: SimilarityMetric = "pearson") -> ChannelSimilarity:
    """C x C similarity of the channels of ``maps`` (``B x C x H x W``, or ``C x H x W`` for one image).

    See the module docstring for the metrics and for constant channels. Cost per image:
    ``C^2 * H * W`` multiply-adds in float64; memory: five ``C x C`` matrices.
    """
    choice("metric", metric, METRICS)
    maps = feature_maps("maps", maps).detach()
    result = _channel_similarity(maps, metric)
    if (note := result.constant_note()) is not None:
        warnings.warn(AnalysisWarning(note), stacklevel=2)
    return result


def _channel_similarity(maps: torch.Tensor, metric: SimilarityMetric) -> ChannelSimilarity:
    batch, channels = maps.shape[:2]
    first, constant = per_image_similarity(maps[0].cpu(), metric)
    if batch == 1:
        single = first.float()
        return ChannelSimilarity(
            matrix=single,
            std_over_images=torch.zeros_like(single),
            min_over_images=single,
            max_over_images=single,
            constant_share=constant.float(),
            metric=metric,
            num_images=1,
            positions_per_image=int(maps[0, 0].numel()),
        )
    total, total_sq = first.clone(), first.square()
    minimum, maximum = first.clone(), first.clone()
    constant_count = constant.double()
    # The other images a chunk at a time: one batched product instead of one small product per image.
    chunk = max(1, _CHUNK_VALUES // max(channels * max(channels, int(maps[0, 0].numel())), 1))
    for start in range(1, batch, chunk):
        flat = maps[start : start + chunk].cpu().reshape(-1, channels, int(maps[0, 0].numel())).double()
        unit, constant = _normalised_rows(flat, metric)
        matrices = (unit @ unit.transpose(1, 2)).clamp_(-1.0, 1.0)
        matrices.diagonal(dim1=1, dim2=2).copy_((~constant).double())
        total += matrices.sum(dim=0)
        total_sq += matrices.square().sum(dim=0)
        torch.minimum(minimum, matrices.amin(dim=0), out=minimum)
        torch.maximum(maximum, matrices.amax(dim=0), out=maximum)
        constant_count += constant.double().sum(dim=0)
    mean = total / batch
    std = (total_sq / batch - mean.square()).clamp_min(0.0).sqrt()
    return ChannelSimilarity(
        matrix=mean.float(),
        std_over_images=std.float(),
        min_over_images=minimum.float(),
        max_over_images=maximum.float(),
        constant_share=(constant_count / batch).float(),
        metric=metric,
        num_images=batch,
        positions_per_image=int(maps[0, 0].numel()),
    )
