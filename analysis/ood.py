"""How far an input is from what a classifier was trained on: class-conditional Mahalanobis distance of its
penultimate features (Lee et al. 2018), read against the distances of the model's own test images.

The reference (:class:`OODReference`) is fitted once, when a zoo checkpoint is built
(``scripts/add_ood_reference.py``), and stored in the checkpoint's metadata (key ``ood``): the class means
of the features of training images, the Cholesky factor of the inverse of their shared covariance, and
quantiles of the distance over test images. An input is *far* when its distance exceeds the
:data:`FAR_LEVEL` quantile: fewer than 1 in 100 of the model's own test images are that far.

Why not the softmax: on resnet20-fashion-dense a photo of a flower gets a max-softmax of 0.99 (above 34% of
the test images) and an energy above 76% of them; both call it ordinary. Its feature distance is above
99.6% of the test images (measured for every zoo model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._running import eval_mode, images_for, logits_of, run_model

METHOD = "mahalanobis-penultimate"
QUANTILE_LEVELS = (0.5, 0.9, 0.99, 0.999)
FAR_LEVEL = 0.99
#: Relative ridge on the covariance: keeps the inverse finite when some feature barely varies.
RIDGE = 1e-3
_KNOWN_DATASETS = {"fashion-mnist": "kinds of clothing", "mnist": "handwritten digits", "cifar10": "kinds of objects",
                   "cifar100": "kinds of objects", "svhn": "house-number digits"}


def penultimate_layer(model: nn.Module) -> str:
    """The name of the model's last ``nn.Linear`` (its classifier): its input is the penultimate feature."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not names:
        raise ValueError("the model has no nn.Linear classifier whose input could serve as its features")
    return names[-1]


def penultimate_features(model: nn.Module, batch: torch.Tensor, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, features)`` of ``batch`` (``n x C x H x W``): ``n x K`` outputs and the ``n x D`` input of
    ``layer`` (an ``nn.Linear``), float32 on the CPU."""
    module = dict(model.named_modules()).get(layer)
    if not isinstance(module, nn.Linear):
        raise ValueError(f"the model has no linear layer {layer!r}: its reference statistics belong to another "
                         "architecture")
    kept: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _module, inputs, _output: kept.append(inputs[0].detach()))
    try:
        with eval_mode(model), torch.no_grad():
            logits = logits_of(run_model(model, images_for(model, batch)))
    finally:
        handle.remove()
    if len(kept) != 1:
        raise ValueError(f"layer {layer!r} ran {len(kept)} times in one forward pass; expected once")
    return logits.float().cpu(), kept[0].flatten(1).float().cpu()


@dataclass(frozen=True)
class OODReference:
    """``class_means``: ``K x D``; ``precision_cholesky``: ``D x D`` lower triangular ``L`` with
    ``L L^T`` the inverse covariance; ``quantiles``: the test images' distances at ``levels``."""

    layer: str
    class_means: torch.Tensor
    precision_cholesky: torch.Tensor
    levels: tuple[float, ...]
    quantiles: tuple[float, ...]
    fit_images: int
    test_images: int

    def distances(self, features: torch.Tensor) -> torch.Tensor:
        """``n x D`` features -> ``n`` squared Mahalanobis distances to the nearest class mean."""
        if features.dim() != 2 or features.shape[1] != self.class_means.shape[1]:
            raise ValueError(f"features must be n x {self.class_means.shape[1]}, got {tuple(features.shape)}")
        offsets = features.double()[:, None, :] - self.class_means.double()[None]  # n x K x D
        return (offsets @ self.precision_cholesky.double()).square().sum(dim=2).min(dim=1).values

    @property
    def far_distance(self) -> float:
        return self.quantiles[self.levels.index(FAR_LEVEL)]

    def to_meta(self) -> dict[str, Any]:
        """Plain values for the checkpoint metadata (the Cholesky factor packed as rows of growing length)."""
        lower = self.precision_cholesky.tolist()
        return {"method": METHOD, "layer": self.layer, "fit_images": self.fit_images, "test_images": self.test_images,
                "class_means": self.class_means.tolist(),
                "precision_cholesky": [row[: i + 1] for i, row in enumerate(lower)],
                "quantile_levels": list(self.levels), "quantiles": list(self.quantiles)}

    @classmethod
    def from_meta(cls, values: Mapping[str, Any]) -> OODReference:
        """From metadata already checked by ``slimconv.pretrained.meta_schema.check_ood``."""
        rows = values["precision_cholesky"]
        lower = torch.zeros(len(rows), len(rows), dtype=torch.float64)
        for i, row in enumerate(rows):
            lower[i, : i + 1] = torch.tensor(row, dtype=torch.float64)
        return cls(layer=values["layer"], class_means=torch.tensor(values["class_means"], dtype=torch.float64),
                   precision_cholesky=lower, levels=tuple(values["quantile_levels"]),
                   quantiles=tuple(values["quantiles"]), fit_images=values["fit_images"],
                   test_images=values["test_images"])


def fit_reference(layer: str, train_features: torch.Tensor, train_labels: torch.Tensor,
                  test_features: torch.Tensor, num_classes: int) -> OODReference:
    """Fit on ``n x D`` training features with their labels, calibrate on ``m x D`` test features."""
    features = train_features.double()
    means = torch.stack([features[train_labels == label].mean(dim=0) for label in range(num_classes)])
    if not bool(torch.isfinite(means).all()):
        raise ValueError("some class has no training image: every class needs features to fit the reference")
    centred = features - means[train_labels]
    covariance = centred.T @ centred / len(features)
    covariance += RIDGE * covariance.diagonal().mean() * torch.eye(len(covariance), dtype=torch.float64)
    lower = torch.linalg.cholesky(torch.linalg.inv(covariance))
    partial = OODReference(layer, means, lower, QUANTILE_LEVELS, (), len(features), len(test_features))
    distances = partial.distances(test_features)
    quantiles = torch.quantile(distances, torch.tensor(QUANTILE_LEVELS, dtype=torch.float64))
    return OODReference(layer, means, lower, QUANTILE_LEVELS, tuple(float(q) for q in quantiles), len(features),
                        len(test_features))


@dataclass(frozen=True)
class OODReading:
    """One input's distance and where it falls among the test images' distances."""

    distance: float
    far: bool
    band: str  # e.g. "farther than 99% of its test images"


def read_distances(reference: OODReference, distances: torch.Tensor) -> list[OODReading]:
    readings = []
    for distance in distances.tolist():
        passed = [level for level, value in zip(reference.levels, reference.quantiles, strict=True) if distance > value]
        band = f"farther than {max(passed):.1%} of its test images".replace(".0%", "%") if passed else \
            "closer than half of its test images"
        readings.append(OODReading(distance, distance > reference.far_distance, band))
    return readings


def training_description(dataset: str, classes: Sequence[str], side: int, in_chans: int) -> str:
    """``"this model knows 10 kinds of clothing at 28x28 in grey"``, from the checkpoint's metadata."""
    kinds = _KNOWN_DATASETS.get(dataset, f"classes of {dataset}")
    colour = "grey" if in_chans == 1 else "colour"
    return f"this model knows {len(classes)} {kinds} at {side}x{side} in {colour}"


def far_note(description: str, names: Sequence[str]) -> str:
    """The warning for the inputs that are far: what the model knows, and which inputs it does not."""
    which = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    verb = "is" if len(names) == 1 else "are"
    return (f"{description[0].upper()}{description[1:]}; {which} {verb} far from what it was trained on (farther "
            f"from every class than {FAR_LEVEL:.0%} of its own test images), so the predicted class says little.")
