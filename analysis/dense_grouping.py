"""The grouping a dense convolution's trained weights come closest to: what FLGC would have to learn there.

FLGC (Wang et al., CVPR 2019) lets each filter see only the input channels of its group. For a dense layer,
the share of its weight energy ``E[n, c] = sum_k W[n, c, k]^2`` that falls inside the groups says how much of
the layer a grouping keeps. A random balanced grouping into ``G`` groups keeps ``sum_g m_g n_g / (N C)`` of it
on average (``1/G`` for equal groups): whatever a grouping keeps above that is structure the dense training
already found; the rest is what FLGC's training has to move into the groups.

The best balanced grouping (group sizes as equal as ``C`` and ``N`` allow, as FLGC's balance loss pushes
for) is searched from a spectral start (channels sorted by the second right singular vector of the
normalised energy, cut into ``G`` runs) by alternating assignments: filters to the groups whose channels
hold most of their energy, then channels to the groups whose filters do, the surest first, each into its
best group with room, until the kept energy stops growing (at most ``MAX_ROUNDS`` rounds). That is a local
optimum, so the share it keeps is a lower bound of what the weights allow. The same search on the energies
shuffled over the matrix (same values, no structure) says how much of that share weights of this size and
spread give by chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from slimconv._validate import numeric, positive_int, shape_of

from .flgc_inspection import GroupStructure, group_structure

MAX_ROUNDS = 12
_POWER_ROUNDS = 30
SHUFFLES = 3


@dataclass(frozen=True)
class DenseGrouping:
    """``groups``: the grouping found; ``energy``: the ``N x C`` weight energy; ``energy_kept``: its share inside
    the groups; ``random_energy_kept``: the share a random grouping of the same sizes keeps on average;
    ``shuffled_energy_kept``: the mean share the same search finds in the energies shuffled (chance)."""

    groups: GroupStructure
    energy: torch.Tensor
    energy_kept: float
    random_energy_kept: float
    shuffled_energy_kept: float

    @property
    def structure_beyond_chance(self) -> float:
        """Kept share above what the search finds in shuffled weights (about 0: no group structure)."""
        return self.energy_kept - self.shuffled_energy_kept


def _sizes(count: int, groups: int) -> np.ndarray:
    return np.array([count // groups + (1 if g < count % groups else 0) for g in range(groups)])


def _balanced(scores: torch.Tensor, sizes: np.ndarray) -> torch.Tensor:
    """Labels for the rows of ``scores`` (``M x G``, higher is better): rows with the highest best score choose
    first, each taking its best group that still has room."""
    values = scores.numpy()
    labels = np.empty(values.shape[0], dtype=np.int64)
    room = sizes.copy()
    preferences = np.argsort(-values, axis=1, kind="stable")
    for row in np.argsort(-values.max(axis=1), kind="stable"):
        for group in preferences[row]:
            if room[group] > 0:
                labels[row] = group
                room[group] -= 1
                break
    return torch.from_numpy(labels)


def _runs(values: torch.Tensor, sizes: np.ndarray) -> torch.Tensor:
    """Labels cutting ``values``' sorted order into consecutive runs of ``sizes``."""
    labels = torch.empty(len(values), dtype=torch.long)
    labels[torch.sort(values, stable=True).indices] = torch.repeat_interleave(torch.arange(len(sizes)),
                                                                              torch.from_numpy(sizes))
    return labels


def _kept(energy: torch.Tensor, filters: torch.Tensor, channels: torch.Tensor, groups: int) -> float:
    """Energy inside the groups: the trace of the ``G x G`` energies between filter and channel groups."""
    return float(torch.trace(F.one_hot(filters, groups).double().T @ energy @ F.one_hot(channels, groups).double()))


def _spectral_order(energy: torch.Tensor) -> torch.Tensor:
    """The second right singular vector of ``D_r^-1/2 E D_c^-1/2``, by power iteration: the first is known
    (``sqrt`` of the column sums, singular value 1), and a start needs no more precision than a few rounds give."""
    rows, columns = energy.sum(dim=1).clamp_min(1e-300), energy.sum(dim=0).clamp_min(1e-300)
    normalised = energy / rows.sqrt()[:, None] / columns.sqrt()[None]
    first = columns.sqrt() / columns.sqrt().norm()
    vector = torch.linspace(-1.0, 1.0, energy.shape[1], dtype=energy.dtype)
    for _ in range(_POWER_ROUNDS):
        vector = normalised.T @ (normalised @ vector)
        vector = vector - (first @ vector) * first
        vector = vector / vector.norm().clamp_min(1e-300)
    return vector


def _search(energy: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Filter labels, channel labels and the kept energy of the search of the module docstring."""
    filter_sizes, channel_sizes = _sizes(energy.shape[0], groups), _sizes(energy.shape[1], groups)
    channels = _runs(_spectral_order(energy), channel_sizes)
    filters = _balanced(energy @ F.one_hot(channels, groups).double(), filter_sizes)
    best = _kept(energy, filters, channels, groups)
    for _ in range(MAX_ROUNDS):
        new_channels = _balanced(energy.T @ F.one_hot(filters, groups).double(), channel_sizes)
        new_filters = _balanced(energy @ F.one_hot(new_channels, groups).double(), filter_sizes)
        kept = _kept(energy, new_filters, new_channels, groups)
        if kept <= best * (1 + 1e-12):
            break
        best, filters, channels = kept, new_filters, new_channels
    return filters, channels, best


def dense_grouping(weight: torch.Tensor, groups: int) -> DenseGrouping:
    """The balanced grouping into ``groups`` that keeps the most of a dense ``N x C x k x k`` weight's energy
    (a local optimum), with the shares a random grouping and the search in shuffled weights keep."""
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        raise ValueError(f"weight must be a conv weight N x C x k x k, got {shape_of(weight)}")
    numeric("weight", weight.detach())  # floating, not empty, finite
    positive_int("groups", groups)
    filters_count, channels_count = weight.shape[:2]
    if groups > min(filters_count, channels_count):
        raise ValueError(f"groups={groups} exceeds the layer's {channels_count} input channels or "
                         f"{filters_count} filters")
    energy = weight.detach().double().cpu().square().sum(dim=(2, 3))
    total = float(energy.sum())
    if total <= 0:
        raise ValueError("weight is all zeros: it has no energy to group")
    filters, channels, kept = _search(energy, groups)
    shuffles = torch.Generator().manual_seed(0)
    shuffled = [_search(energy.flatten()[torch.randperm(energy.numel(), generator=shuffles)].view_as(energy),
                        groups)[2] / total for _ in range(SHUFFLES)]
    sizes = _sizes(filters_count, groups) * _sizes(channels_count, groups)
    return DenseGrouping(groups=group_structure(channels, filters, groups), energy=energy, energy_kept=kept / total,
                         random_energy_kept=float(sizes.sum()) / (filters_count * channels_count),
                         shuffled_energy_kept=sum(shuffled) / SHUFFLES)
