"""What SPConv (Zhang et al., "Split to Be Slim", IJCAI 2020) does with an input, and a what-if for a
dense layer: the paper's positional split against a split chosen by channel similarity.

SPConv sends the first ``Cr = int(C * alpha)`` input channels (representative) through a ``k x k``
group conv plus a ``1 x 1`` conv and the other ``C - Cr`` (redundant) through a cheap ``1 x 1`` conv,
then fuses the two branch outputs with per-sample, per-channel softmax weights ``beta``, ``gamma``.

The what-if scores a split by what the representative part keeps of the layer input: each
redundant channel is regressed (least squares, with intercept, over every position of every image)
on all representative channels; ``redundant_r2`` is the R^2 per redundant channel and
``variance_kept_share`` = ``(Cr + sum redundant_r2) / C`` is the share of the (standardised) input
variance that lies in the representative part's span. Unrelated noise already reaches an R^2 of
about ``chance_r2 = Cr / (n - 1)`` with ``n`` positions, reported as the floor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from slimconv._validate import feature_maps, fraction, instance_of, text
from slimconv.ops.spconv import SPConv2d

from ._layer_input import on_layer_input
from .clustering import ChannelClusters, cluster_channels
from .hooks import resolve_layers
from .similarity import SimilarityMetric, channel_similarity


@dataclass(frozen=True)
class SPConvInspection:
    """One SPConv layer on a batch. ``representative_channels``: ``Cr`` long input indices;
    ``redundant_channels``: ``C - Cr`` long. ``representative_output`` (``U3``) and
    ``redundant_output`` (``U1``, zeros when ``alpha = 1``): ``B x N x H' x W'``.
    ``beta`` / ``gamma``: ``B x N`` fusion weights of the two branches; ``output``: ``B x N x H' x W'``."""

    representative_channels: torch.Tensor
    redundant_channels: torch.Tensor
    representative_output: torch.Tensor
    redundant_output: torch.Tensor
    beta: torch.Tensor
    gamma: torch.Tensor
    output: torch.Tensor
    alpha: float


@dataclass(frozen=True)
class SplitScore:
    """One split of ``C`` input channels scored by what the representative part keeps (module doc).
    ``redundant_r2``: ``C - Cr``; ``best_single_r2``: ``C - Cr``, the best affine rebuild of each
    redundant channel from one representative channel (squared Pearson correlation)."""

    name: str
    representative_channels: torch.Tensor
    redundant_channels: torch.Tensor
    redundant_r2: torch.Tensor
    best_single_r2: torch.Tensor
    variance_kept_share: float


@dataclass(frozen=True)
class SplitWhatIf:
    """The paper's positional split against a similarity split (medoids of ``Cr`` clusters)."""

    positional: SplitScore
    by_similarity: SplitScore
    clusters: ChannelClusters
    alpha: float
    positions: int
    chance_r2: float


def inspect_spconv(layer: SPConv2d, layer_input: torch.Tensor) -> SPConvInspection:
    """Branch outputs and fusion weights of ``layer`` for its input ``layer_input`` (``B x C x H x W``)."""
    instance_of("layer", layer, SPConv2d)
    layer_input = feature_maps("layer_input", layer_input)
    if layer_input.shape[1] != layer.in_channels:
        raise ValueError(f"layer_input has {layer_input.shape[1]} channels, the layer takes {layer.in_channels}")
    parameter = next(layer.parameters())
    with torch.no_grad():
        branches = layer.branches(layer_input.to(parameter.device, parameter.dtype))
    cpu = lambda t: t.detach().to("cpu", torch.float32)  # noqa: E731
    redundant = branches.redundant if branches.redundant is not None else torch.zeros_like(branches.representative)
    return SPConvInspection(
        representative_channels=torch.tensor(list(layer.representative_channels), dtype=torch.long),
        redundant_channels=torch.tensor(list(layer.redundant_channels), dtype=torch.long),
        representative_output=cpu(branches.representative),
        redundant_output=cpu(redundant),
        beta=cpu(branches.beta),
        gamma=cpu(branches.gamma),
        output=cpu(branches.output),
        alpha=layer.alpha,
    )


def inspect_spconv_in_model(model: nn.Module, layer_name: str, images: torch.Tensor) -> SPConvInspection:
    """:func:`inspect_spconv` for the SPConv layer ``layer_name`` of ``model`` on ``images``
    (``B x 3 x H x W``): one forward pass in eval mode, the layer inspected on its exact input."""
    layer = resolve_layers(model, [text("layer_name", layer_name)])[layer_name]
    instance_of(f"layer {layer_name!r}", layer, SPConv2d)
    return on_layer_input(model, layer_name, images, lambda layer_input: inspect_spconv(layer, layer_input))


def _standardised(maps: torch.Tensor) -> torch.Tensor:
    """``B x C x H x W`` -> ``n x C`` float64, each channel zero-mean and unit-norm (constant: zero)."""
    flat = maps.transpose(0, 1).reshape(maps.shape[1], -1).double()
    flat = flat - flat.mean(dim=1, keepdim=True)
    norms = flat.norm(dim=1, keepdim=True)
    return torch.where(norms > 0, flat / norms.clamp_min(1e-300), torch.zeros_like(flat)).T


def _score_split(name: str, data: torch.Tensor, kept: torch.Tensor, correlation: torch.Tensor) -> SplitScore:
    channels = data.shape[1]
    redundant_mask = torch.ones(channels, dtype=torch.bool)
    redundant_mask[kept] = False
    dropped = redundant_mask.nonzero()[:, 0]
    if len(dropped) == 0:  # alpha = 1: every channel is representative, none is left to rebuild
        return SplitScore(name, kept.clone(), dropped, torch.zeros(0), torch.zeros(0), 1.0)
    basis, targets = data[:, kept], data[:, dropped]
    gram = basis.T @ basis
    solution = torch.linalg.lstsq(gram, basis.T @ targets, driver="gelsd").solution
    explained = (targets * (basis @ solution)).sum(dim=0)  # ||projection||^2 of each unit-norm target
    target_energy = targets.square().sum(dim=0)
    r2 = torch.where(target_energy > 0, explained / target_energy.clamp_min(1e-300), torch.ones_like(explained))
    r2 = r2.clamp(0.0, 1.0)
    single = correlation[dropped][:, kept].square().amax(dim=1) if len(kept) else torch.zeros(len(dropped))
    return SplitScore(
        name=name,
        representative_channels=kept.clone(),
        redundant_channels=dropped,
        redundant_r2=r2.float(),
        best_single_r2=single.float(),
        variance_kept_share=float((len(kept) + r2.sum()) / channels),
    )


def split_what_if(
    layer_input: torch.Tensor, alpha: float = 0.5, *, metric: SimilarityMetric = "pearson"
) -> SplitWhatIf:
    """Score SPConv's positional split and a similarity split of ``layer_input`` (``B x C x H x W``,
    the input of a dense layer) with ``Cr = int(C * alpha)`` representative channels."""
    fraction("alpha", alpha)
    maps = feature_maps("layer_input", layer_input).detach().cpu()
    channels = maps.shape[1]
    kept_count = int(channels * alpha)
    if kept_count < 1:
        raise ValueError(f"alpha={alpha} leaves no representative channel of {channels}: use alpha >= 1 / {channels}")
    positions = maps.shape[0] * maps.shape[2] * maps.shape[3]
    if positions <= kept_count + 1:
        raise ValueError(
            f"{positions} positions (B x H x W) cannot score {kept_count} representative channels: "
            "use more images or an earlier, larger layer"
        )
    data = _standardised(maps)
    correlation = data.T @ data
    similarity = channel_similarity(maps, metric)
    clusters = cluster_channels(similarity, num_clusters=kept_count, linkage="average")
    positional = torch.arange(kept_count)
    by_similarity = clusters.representatives.sort().values
    return SplitWhatIf(
        positional=_score_split("positional", data, positional, correlation),
        by_similarity=_score_split("similarity", data, by_similarity, correlation),
        clusters=clusters,
        alpha=float(alpha),
        positions=positions,
        chance_r2=kept_count / (positions - 1),
    )
