"""Ghost pairs: the most alike channel pairs of a layer, and how well a cheap operation rebuilds one
map from the other. This is the evidence behind GhostNet (a cheap depthwise operation makes "ghost"
maps from primary ones) and SPConv (redundant channels need only cheap processing).

Two cheap operations are fitted by least squares over every position of every image (one fixed
operation per pair, as a layer would have):

- per-channel affine: ``target ~ a * source + b``; its R^2 equals the squared Pearson correlation;
- depthwise ``k x k`` filter with bias: ``target ~ conv2d(source, w) + b`` (zero padding ``k // 2``),
  GhostNet's cheap operation; it can also undo small shifts and blurs.

``R^2 = 1 - SSE / SST`` over all positions (a constant target is rebuilt exactly by the shift:
``R^2 = 1``). Each pair is oriented so that the depthwise fit is the better of the two directions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from slimconv._validate import feature_maps, index, instance_of, numeric, odd_positive_int, positive_int

from .similarity import ChannelSimilarity, SimilarityMetric, channel_similarity


@dataclass(frozen=True)
class CheapRebuild:
    """One least-squares rebuild of ``target`` (``B x H x W``) from ``source``.

    ``weights``: ``1`` (affine scale) or ``k x k`` (depthwise filter); ``bias``: the shift;
    ``rebuilt``: ``B x H x W``; ``r2``: coefficient of determination over all positions.
    """

    weights: torch.Tensor
    bias: float
    rebuilt: torch.Tensor
    r2: float


@dataclass(frozen=True)
class GhostPairs:
    """The ``K`` most alike channel pairs of a layer.

    ``source_channels``, ``target_channels``: ``K`` long; ``similarity``: ``K`` (of the metric used);
    ``affine_r2``, ``depthwise_r2``: ``K``; ``affine_coefficients``: ``K x 2`` (scale, shift);
    ``depthwise_kernels``: ``K x k x k``; ``example_maps``: ``K x 4 x H x W``, for image
    ``example_image``: source, target, affine rebuild, depthwise rebuild.
    """

    source_channels: torch.Tensor
    target_channels: torch.Tensor
    similarity: torch.Tensor
    affine_r2: torch.Tensor
    affine_coefficients: torch.Tensor
    depthwise_r2: torch.Tensor
    depthwise_kernels: torch.Tensor
    example_maps: torch.Tensor
    example_image: int
    kernel_size: int
    metric: str


def _r2(target: torch.Tensor, rebuilt: torch.Tensor) -> float:
    residual = (target - rebuilt).square().sum()
    spread = (target - target.mean()).square().sum()
    if spread <= 1e-24 * max(1.0, float(target.square().sum())):
        return 1.0 if residual <= 1e-20 * max(1.0, float(target.square().sum())) else 0.0
    return float(1.0 - residual / spread)


def _solve(gram: torch.Tensor, moment: torch.Tensor) -> torch.Tensor:
    """Least-squares solution of the normal equations ``gram @ w = moment`` (minimum norm if singular)."""
    return torch.linalg.lstsq(gram, moment[:, None], driver="gelsd").solution[:, 0]


def _map_pair(source: torch.Tensor, target: torch.Tensor) -> None:
    """Two non-empty, finite floating-point tensors of one shape."""
    for name, maps in (("source", source), ("target", target)):
        if not isinstance(maps, torch.Tensor):
            raise ValueError(f"{name} must be a tensor of maps B x H x W, got {type(maps).__name__}")
        numeric(name, maps)
    if source.shape != target.shape:
        raise ValueError(f"source {tuple(source.shape)} and target {tuple(target.shape)} differ in shape")


def fit_affine(source: torch.Tensor, target: torch.Tensor) -> CheapRebuild:
    """Fit ``target ~ a * source + b`` (maps ``B x H x W``) by least squares."""
    _map_pair(source, target)
    s, t = source.double().reshape(-1), target.double().reshape(-1)
    design = torch.stack([s, torch.ones_like(s)], dim=1)
    scale, shift = _solve(design.T @ design, design.T @ t)
    rebuilt = scale * source.double() + shift
    return CheapRebuild(scale.reshape(1).float(), float(shift), rebuilt.float(), _r2(target.double(), rebuilt))


def fit_depthwise(source: torch.Tensor, target: torch.Tensor, kernel_size: int = 3) -> CheapRebuild:
    """Fit ``target ~ conv2d(source, w) + b`` with a ``k x k`` filter (maps ``B x H x W``)."""
    odd_positive_int("kernel_size", kernel_size)
    _map_pair(source, target)
    if source.dim() != 3:
        raise ValueError(f"source and target must both be B x H x W, got {tuple(source.shape)}")
    s, t = source.double()[:, None], target.double()
    patches = F.unfold(s, kernel_size, padding=kernel_size // 2)  # B x k^2 x HW
    ones = torch.ones_like(patches[:, :1])
    design = torch.cat([patches, ones], dim=1)
    gram = torch.einsum("bpn,bqn->pq", design, design)
    moment = torch.einsum("bpn,bn->p", design, t.reshape(t.shape[0], -1))
    solution = _solve(gram, moment)
    kernel = solution[:-1].reshape(kernel_size, kernel_size)
    bias = solution[-1]
    rebuilt = F.conv2d(s, kernel[None, None], padding=kernel_size // 2)[:, 0] + bias
    return CheapRebuild(kernel.float(), float(bias), rebuilt.float(), _r2(t, rebuilt))


def ghost_pairs(
    maps: torch.Tensor,
    *,
    similarity: ChannelSimilarity | None = None,
    metric: SimilarityMetric = "pearson",
    num_pairs: int = 8,
    kernel_size: int = 3,
    example_image: int = 0,
) -> GhostPairs:
    """The ``num_pairs`` pairs with the highest ``|similarity|`` among ``maps`` (``B x C x H x W``),
    each with its affine and depthwise rebuild. Channels constant on every image are skipped.
    Pass ``similarity`` to reuse a matrix already computed for these maps.
    """
    maps = feature_maps("maps", maps).detach().cpu()
    positive_int("num_pairs", num_pairs)
    odd_positive_int("kernel_size", kernel_size)
    batch, channels = maps.shape[:2]
    index("example_image", example_image, batch)
    if channels < 2:
        raise ValueError(f"maps need at least 2 channels for ghost pairs, got {channels}")
    if similarity is None:
        similarity = channel_similarity(maps, metric)
    if (instance_of("similarity", similarity, ChannelSimilarity).num_images, similarity.channels) != (batch, channels):
        raise ValueError(
            f"similarity is for {similarity.channels} channels of {similarity.num_images} images, "
            f"maps have {channels} channels of {batch}: pass the similarity of these maps"
        )
    alike = similarity.matrix.double().abs()
    live = similarity.constant_share < 1.0
    pair_mask = torch.triu(torch.ones(channels, channels, dtype=torch.bool), diagonal=1)
    pair_mask &= live[:, None] & live[None, :]
    if not bool(pair_mask.any()):
        raise ValueError("fewer than 2 channels vary over the images: no pair to compare")
    scores = torch.where(pair_mask, alike, torch.full_like(alike, -1.0)).reshape(-1)
    count = min(num_pairs, int(pair_mask.sum()))
    chosen = scores.topk(count).indices

    rows: dict[str, list] = {key: [] for key in ("src", "dst", "sim", "ar2", "acoef", "dr2", "kern", "maps")}
    for flat_index in chosen.tolist():
        first, second = divmod(flat_index, channels)
        forward = fit_depthwise(maps[:, first], maps[:, second], kernel_size)
        backward = fit_depthwise(maps[:, second], maps[:, first], kernel_size)
        source, target, depthwise = (first, second, forward) if forward.r2 >= backward.r2 else (second, first, backward)
        affine = fit_affine(maps[:, source], maps[:, target])
        rows["src"].append(source)
        rows["dst"].append(target)
        rows["sim"].append(float(similarity.matrix[first, second]))
        rows["ar2"].append(affine.r2)
        rows["acoef"].append([float(affine.weights[0]), affine.bias])
        rows["dr2"].append(depthwise.r2)
        rows["kern"].append(depthwise.weights)
        rows["maps"].append(
            torch.stack(
                [
                    maps[example_image, source],
                    maps[example_image, target],
                    affine.rebuilt[example_image],
                    depthwise.rebuilt[example_image],
                ]
            )
        )
    return GhostPairs(
        source_channels=torch.tensor(rows["src"], dtype=torch.long),
        target_channels=torch.tensor(rows["dst"], dtype=torch.long),
        similarity=torch.tensor(rows["sim"]),
        affine_r2=torch.tensor(rows["ar2"]),
        affine_coefficients=torch.tensor(rows["acoef"]),
        depthwise_r2=torch.tensor(rows["dr2"]),
        depthwise_kernels=torch.stack(rows["kern"]),
        example_maps=torch.stack(rows["maps"]).float(),
        example_image=example_image,
        kernel_size=kernel_size,
        metric=similarity.metric,
    )
