"""Group alike channels (scikit-learn agglomerative clustering) and order them into blocks.

The distance between channels ``i`` and ``j`` is ``1 - |s_ij|`` (or ``1 - s_ij`` with
``absolute=False``), so a sign-flipped copy is as close as a copy. With a ``threshold`` and
complete linkage, every pair inside a cluster is at least ``threshold`` alike. The ``order`` puts the
channels of each cluster next to each other (largest cluster first, dendrogram order inside), so a
heatmap of ``matrix[order][:, order]`` shows the clusters as blocks on the diagonal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.cluster.hierarchy import linkage as scipy_linkage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import squareform

from slimconv._validate import boolean, choice, fraction, positive_int, square_matrix

from .similarity import ChannelSimilarity

Linkage = Literal["complete", "average", "single"]
# Pairs exactly at the threshold count as alike, as in the scores.
_THRESHOLD_SLACK = 1e-9


@dataclass(frozen=True)
class ChannelClusters:
    """A clustering of ``C`` channels.

    ``labels``: ``C`` long, cluster of each channel (0 = largest cluster). ``order``: ``C`` long,
    a permutation listing the channels cluster by cluster. ``block_sizes``: sizes of the clusters
    in that order. ``representatives``: ``num_clusters`` long, the medoid of each cluster (the
    member with the highest mean ``|similarity|`` to the other members), indexed by label.
    """

    labels: torch.Tensor
    order: torch.Tensor
    block_sizes: torch.Tensor
    representatives: torch.Tensor
    num_clusters: int
    threshold: float | None
    linkage: str


def _leaf_order(children: np.ndarray, leaves: int) -> list[int]:
    """Left-to-right leaves of the full dendrogram described by sklearn's ``children_``."""
    order: list[int] = []
    stack = [2 * leaves - 2]
    while stack:
        node = stack.pop()
        if node < leaves:
            order.append(node)
        else:
            left, right = children[node - leaves]
            stack.extend((int(right), int(left)))
    return order


def cluster_channels(
    similarity: torch.Tensor | ChannelSimilarity,
    *,
    threshold: float | None = 0.9,
    num_clusters: int | None = None,
    linkage: Linkage = "complete",
    absolute: bool = True,
) -> ChannelClusters:
    """Cluster the channels of a ``C x C`` similarity matrix (or a :class:`ChannelSimilarity`).

    Give either ``threshold`` (clusters whose linkage similarity is at least it) or
    ``num_clusters`` (then ``threshold`` is ignored).
    """
    matrix = similarity.matrix if isinstance(similarity, ChannelSimilarity) else similarity
    matrix = square_matrix("similarity", matrix).detach().double().cpu()
    choice("linkage", linkage, ("complete", "average", "single"))
    boolean("absolute", absolute)
    channels = matrix.shape[0]
    if num_clusters is not None:
        positive_int("num_clusters", num_clusters)
        if num_clusters > channels:
            raise ValueError(f"num_clusters={num_clusters} exceeds the {channels} channels")
        threshold = None
    elif threshold is None:
        raise ValueError("give a threshold in [0, 1] or a num_clusters")
    else:
        fraction("threshold", threshold, low_open=False)

    alike = matrix.abs() if absolute else matrix
    alike = (alike + alike.T) / 2
    if channels == 1:
        labels = np.zeros(1, dtype=np.int64)
        leaf_order = [0]
    else:
        from sklearn.cluster import AgglomerativeClustering  # here: importing scikit-learn costs a second

        distance = (1.0 - alike).clamp_min(0.0).numpy()
        np.fill_diagonal(distance, 0.0)
        model = AgglomerativeClustering(
            n_clusters=num_clusters,
            metric="precomputed",
            linkage=linkage,
            distance_threshold=None if threshold is None else 1.0 - threshold + _THRESHOLD_SLACK,
            compute_full_tree=True,
        )
        labels = model.fit_predict(distance)
        leaf_order = _leaf_order(model.children_, channels)
    return _ordered_clusters(labels, leaf_order, alike, threshold, linkage)


def _ordered_clusters(
    labels: np.ndarray, leaf_order: list[int], alike: torch.Tensor, threshold: float | None, linkage: str
) -> ChannelClusters:
    """Relabel clusters by size (largest first, then by first dendrogram position), order the
    channels cluster by cluster in dendrogram order, and pick each cluster's medoid (vectorised:
    thousands of clusters of a 2048-channel layer cost no Python loop)."""
    channels = len(labels)
    leaf_position = np.empty(channels, dtype=np.int64)
    leaf_position[np.asarray(leaf_order)] = np.arange(channels)
    count = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=count)
    first_seen = np.full(count, channels, dtype=np.int64)
    np.minimum.at(first_seen, labels, leaf_position)
    ranked = np.lexsort((first_seen, -sizes))  # old labels, largest cluster first
    new_of_old = np.empty(count, dtype=np.int64)
    new_of_old[ranked] = np.arange(count)
    new_labels = torch.from_numpy(new_of_old[labels])
    order = torch.from_numpy(np.lexsort((leaf_position, new_of_old[labels])))

    same_cluster = new_labels[:, None] == new_labels[None, :]
    cohesion = torch.where(same_cluster, alike, torch.zeros_like(alike)).sum(dim=1)  # to own cluster
    best = torch.full((count,), float("-inf"), dtype=cohesion.dtype).scatter_reduce(0, new_labels, cohesion, "amax")
    is_best = cohesion >= best[new_labels]
    index = torch.where(is_best, torch.arange(channels), torch.full((channels,), channels))
    representatives = torch.full((count,), channels, dtype=torch.long).scatter_reduce(0, new_labels, index, "amin")
    return ChannelClusters(
        labels=new_labels,
        order=order,
        block_sizes=torch.from_numpy(sizes[ranked]),
        representatives=representatives,
        num_clusters=count,
        threshold=threshold,
        linkage=linkage,
    )


# float32 rounding of a similarity is below this: pairs this close under the threshold still link
_COMPONENT_MARGIN = 1e-5


def complete_linkage_cluster_count(similarity: torch.Tensor, threshold: float = 0.9) -> int:
    """``cluster_channels(similarity, threshold=threshold).num_clusters`` (complete linkage, absolute),
    without clustering the whole ``C x C`` matrix.

    Complete linkage merges two clusters only below the distance threshold, that is when every pair
    across them is alike above ``threshold``; so no cluster spans two connected components of the
    graph that links pairs alike above ``threshold`` (a slightly looser graph, to absorb float32
    rounding, only coarsens the components). Each component is clustered on its own: one cluster
    for a lone channel, ``cluster_channels`` on the block of a larger one.
    Deep layers, whose channels are mostly unlike, thus cost a threshold test instead of a
    2048-channel agglomerative clustering.
    """
    matrix = square_matrix("similarity", similarity).detach().cpu().abs()
    fraction("threshold", threshold, low_open=False)
    return _cluster_count((matrix + matrix.T) / 2, threshold)  # averaged, as cluster_channels does


def linking_level(threshold: float) -> float:
    """The level from which two channels link into one component: ``threshold`` less the float32 margin."""
    return threshold - _COMPONENT_MARGIN


# Rows of a C x C matrix scanned at once for alike pairs: about a megabyte of values, so the scan's
# masks are small reused blocks instead of a fresh C x C one (allocating, hence faulting in, 4 MB or
# more per layer cost more than the comparisons themselves)
_SCAN_VALUES = 2**18


def alike_pairs(alike: torch.Tensor, level: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pairs ``i < j`` of a ``C x C`` CPU matrix with ``alike[i, j] >= level``: their row and
    column indices and values (three ``E`` tensors), read from the upper triangle only, a block of
    rows at a time."""
    channels = alike.shape[0]
    rows_per_block = max(1, _SCAN_VALUES // max(channels, 1))
    firsts, seconds, values = [], [], []
    for start in range(0, channels - 1, rows_per_block):
        block = alike[start : start + rows_per_block, start:]  # its own diagonal is the matrix's
        rows, cols = torch.nonzero(torch.triu(block >= level, diagonal=1), as_tuple=True)
        firsts.append(rows + start)
        seconds.append(cols + start)
        values.append(block[rows, cols])
    if not firsts:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, alike.new_zeros(0)
    return torch.cat(firsts), torch.cat(seconds), torch.cat(values)


def _cluster_count(
    alike: torch.Tensor,
    threshold: float,
    *,
    live: torch.Tensor | None = None,
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> int:
    """:func:`complete_linkage_cluster_count` of a checked symmetric ``C x C`` CPU matrix given as its
    absolute values and read from its upper triangle only (the caller often has just that), among the
    ``live`` channels only if that ``C`` bool mask is given (the others must have zero rows: dead
    channels).

    ``pairs``: the row and column indices of ``alike_pairs(alike, linking_level(threshold))``, if the
    caller has them.
    """
    level = linking_level(threshold)
    if live is not None and (level <= 0 or int(live.sum()) <= 2):  # zero rows would link: drop them first
        alike, live, pairs = alike[live][:, live], None, None
    channels = alike.shape[0]
    if channels <= 2:
        return cluster_channels(mirrored(alike), threshold=threshold).num_clusters if channels else 0
    first, second = pairs if pairs is not None else alike_pairs(alike, level)[:2]
    graph = coo_matrix((np.ones(len(first)), (first.numpy(), second.numpy())), shape=(channels, channels))
    count, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels, minlength=count)
    dead = 0 if live is None else channels - int(live.sum())  # each a lone channel, linked to none
    total = int((sizes == 1).sum()) - dead  # lone live channels: one cluster each
    cut = 1.0 - threshold + _THRESHOLD_SLACK
    order = np.argsort(labels, kind="stable")  # members of each component, contiguous and ascending
    starts = np.concatenate([[0], np.cumsum(sizes)])
    couples = np.flatnonzero(sizes == 2)
    if len(couples):  # a pair is one cluster exactly when its distance is under the cut (as the linkage)
        lower, upper = torch.from_numpy(order[starts[couples]]), torch.from_numpy(order[starts[couples] + 1])
        distance = (1.0 - alike[lower, upper].double()).clamp_min(0.0)
        total += int((distance >= cut).sum()) + len(couples)
    for component in np.flatnonzero(sizes >= 3):
        members = torch.from_numpy(order[starts[component] : starts[component + 1]])
        total += _complete_linkage_count(alike[members[:, None], members[None, :]].double(), cut)
    return total


def _complete_linkage_count(alike: torch.Tensor, cut: float) -> int:
    """Clusters of ``cluster_channels``'s complete-linkage tree cut at distance ``cut``: as there, the
    distances ``1 - A`` (of the upper triangle: ``squareform`` reads only that) go to scipy's linkage,
    and every merge at or above the cut leaves one more cluster (complete-linkage heights never
    decrease)."""
    distance = alike.mul(-1.0).add_(1.0).clamp_min_(0.0)
    heights = scipy_linkage(squareform(distance.numpy(), checks=False), method="complete")[:, 2]
    return int(np.count_nonzero(heights >= cut)) + 1


def mirrored(upper: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix whose upper triangle, diagonal included, is that of ``upper``."""
    return torch.triu(upper) + torch.triu(upper, diagonal=1).T
