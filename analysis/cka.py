"""Centered kernel alignment (linear CKA, Kornblith et al. 2019) between two representations, and a
layer-by-layer CKA map between two models (for example a dense network and its SPConv version).

A representation is ``n x ...``: ``n`` examples (images), the rest flattened into features, so two
layers of different widths and spatial sizes can be compared. CKA is 1 for representations equal up
to an orthogonal transform and an isotropic scaling. The plain (biased) estimator is inflated when
the feature count is large against ``n`` (independent noise scores near 1 with ``p >> n``); the
debiased form (unbiased HSIC, Song et al. 2012, as used by Nguyen et al. 2021) corrects this and
needs ``n >= 4``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from slimconv._validate import boolean, feature_maps, nn_module, numeric, optional_callable, shape_of, square_matrix

from ._running import eval_mode, images_for, run_model
from .hooks import conv_layer_names, layer_hooks, layer_name_list
from .numeric_warnings import AnalysisWarning


@dataclass(frozen=True)
class CKAMap:
    """CKA of every layer of model A (rows) against every layer of model B (columns).

    ``matrix``: ``La x Lb`` float64 (NaN where a layer's features do not vary over the images).
    """

    matrix: torch.Tensor
    layer_names_a: list[str]
    layer_names_b: list[str]
    debiased: bool
    num_images: int

    def undefined_note(self) -> str | None:
        """What the blank (NaN) cells of the map mean, naming the layers; ``None`` when every cell is defined."""
        undefined = torch.isnan(self.matrix)
        if not bool(undefined.any()):
            return None
        rows = [name for name, row in zip(self.layer_names_a, undefined, strict=True) if bool(row.all())]
        columns = [name for name, column in zip(self.layer_names_b, undefined.T, strict=True) if bool(column.all())]
        named = ", ".join([*(f"A {name}" for name in rows[:4]), *(f"B {name}" for name in columns[:4])])
        return (f"{int(undefined.sum())} of {undefined.numel()} cells are blank: CKA is undefined where a layer's "
                f"features are the same for every image ({named or 'no whole layer'}), e.g. a layer after which "
                "the images no longer differ. Use more varied images.")


def _examples(name: str, features: torch.Tensor) -> torch.Tensor:
    """``n x ...`` features as ``n x D`` float64 rows, one per example."""
    if not isinstance(features, torch.Tensor) or features.dim() < 2:
        raise ValueError(f"{name} must be a tensor of shape n x ... (examples first), got {shape_of(features)}")
    return numeric(name, features.detach()).reshape(features.shape[0], -1).double()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Linear kernel ``X X^T`` (``n x n`` float64) of ``n x ...`` features flattened per example."""
    flat = _examples("features", features)
    return flat @ flat.T


def _hsic(gram_x: torch.Tensor, gram_y: torch.Tensor, debiased: bool) -> torch.Tensor:
    n = gram_x.shape[0]
    if not debiased:
        centring = torch.eye(n, dtype=gram_x.dtype) - 1.0 / n
        return ((centring @ gram_x @ centring) * gram_y).sum()
    x, y = gram_x.clone(), gram_y.clone()
    x.fill_diagonal_(0.0)
    y.fill_diagonal_(0.0)
    trace_term = (x * y).sum()
    sums_term = x.sum() * y.sum() / ((n - 1) * (n - 2))
    cross_term = 2.0 / (n - 2) * (x.sum(dim=0) * y.sum(dim=0)).sum()
    return (trace_term + sums_term - cross_term) / (n * (n - 3))


def cka_from_grams(gram_x: torch.Tensor, gram_y: torch.Tensor, *, debiased: bool = False) -> float:
    """Linear CKA from two ``n x n`` Gram matrices; NaN if either representation does not vary."""
    n = square_matrix("gram_x", gram_x).shape[0]
    if square_matrix("gram_y", gram_y).shape != (n, n):
        raise ValueError(f"gram_x and gram_y must both be n x n, got {tuple(gram_x.shape)} and {tuple(gram_y.shape)}")
    boolean("debiased", debiased)
    if n < (4 if debiased else 2):
        raise ValueError(
            f"CKA needs at least {4 if debiased else 2} examples{' (debiased)' if debiased else ''}, got {n}"
        )
    cross = _hsic(gram_x, gram_y, debiased)
    self_x = _hsic(gram_x, gram_x, debiased)
    self_y = _hsic(gram_y, gram_y, debiased)
    for self_hsic, gram in ((self_x, gram_x), (self_y, gram_y)):
        scale = max(float(gram.diagonal().abs().max()), 1e-300)
        if self_hsic <= 1e-12 * scale**2:  # no variation left after centring
            return float("nan")
    return float(cross / torch.sqrt(self_x * self_y))


def linear_cka(x: torch.Tensor, y: torch.Tensor, *, debiased: bool = False) -> float:
    """Linear CKA between representations ``x`` (``n x ...``) and ``y`` (``n x ...``) of the same ``n`` examples."""
    flat_x, flat_y = _examples("x", x), _examples("y", y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} examples and y has {y.shape[0]}: CKA compares the same examples")
    needed = 4 if boolean("debiased", debiased) else 2
    if x.shape[0] < needed:
        kind = "debiased CKA" if debiased else "CKA"
        raise ValueError(f"x and y have {x.shape[0]} examples; {kind} needs at least {needed}")
    value = cka_from_grams(flat_x @ flat_x.T, flat_y @ flat_y.T, debiased=debiased)
    if value != value:
        raise ValueError("x or y is the same for every example (after centring): CKA is undefined")
    return value


def layer_grams(
    model: nn.Module,
    images: torch.Tensor,
    layer_names: Sequence[str] | None = None,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, torch.Tensor]:
    """``{layer: n x n Gram matrix}`` of each layer's output for ``images`` (``n x 3 x H x W``), in one
    forward pass without keeping any map (memory: ``n^2`` per layer). Default: every convolution."""
    nn_module("model", model)
    optional_callable("progress", progress)
    names = layer_name_list(layer_names) if layer_names is not None else conv_layer_names(model)
    images = images_for(model, images)
    grams: dict[str, torch.Tensor] = {}

    def keep_gram(name: str, output: torch.Tensor) -> None:
        if name in grams:
            raise ValueError(f"layer {name!r} ran twice in one forward pass: compare layers that run once")
        gram = gram_matrix(output).cpu()
        if not bool(torch.isfinite(gram).all()):
            raise ValueError(f"layer {name!r} gives NaN or infinite features for these images (its weights overflow "
                             "or hold NaN); CKA cannot be computed")
        grams[name] = gram
        if progress is not None:
            progress(len(grams) / len(names), name)

    with eval_mode(model), layer_hooks(model, names, keep_gram), torch.no_grad():
        run_model(model, images)
    missing = [name for name in names if name not in grams]
    if missing:
        raise ValueError(f"layers {missing} did not run in the forward pass")
    return {name: grams[name] for name in names}


def cka_map(
    grams_a: Mapping[str, torch.Tensor], grams_b: Mapping[str, torch.Tensor], *, debiased: bool = False
) -> CKAMap:
    """CKA of every pair of layers from two ``{layer: n x n Gram}`` dictionaries (see :func:`layer_grams`)."""
    sizes = set()
    for name, grams in (("grams_a", grams_a), ("grams_b", grams_b)):
        if not isinstance(grams, Mapping) or not grams:
            raise ValueError(f"{name} must be a non-empty dict {{layer: n x n Gram matrix}}, got {grams!r}")
        sizes |= {square_matrix(f"{name}[{layer!r}]", gram).shape[0] for layer, gram in grams.items()}
    if len(sizes) != 1:
        raise ValueError(f"grams_a and grams_b must come from the same images, got Gram sizes {sorted(sizes)}")
    names_a, names_b = list(grams_a), list(grams_b)
    n = sizes.pop()
    matrix = torch.empty(len(names_a), len(names_b), dtype=torch.float64)
    for i, name_a in enumerate(names_a):
        for j, name_b in enumerate(names_b):
            matrix[i, j] = cka_from_grams(grams_a[name_a], grams_b[name_b], debiased=debiased)
    if bool(torch.isnan(matrix).all()):
        raise ValueError(f"CKA is undefined for every pair of layers: no layer's features vary over these {n} images "
                         "(are they copies of one image, or all blank?). CKA compares how representations vary "
                         "across images: choose different images")
    result = CKAMap(matrix, names_a, names_b, debiased, n)
    if (note := result.undefined_note()) is not None:
        warnings.warn(AnalysisWarning(note), stacklevel=2)
    return result


def model_cka_map(
    model_a: nn.Module,
    model_b: nn.Module,
    images: torch.Tensor,
    *,
    layers_a: Sequence[str] | None = None,
    layers_b: Sequence[str] | None = None,
    debiased: bool = True,
) -> CKAMap:
    """Layer-by-layer CKA between two models on the same ``images`` (``n x 3 x H x W``, n >= 4 for the
    debiased form): one forward pass per model. Default layers: every convolution of each model."""
    needed = 4 if boolean("debiased", debiased) else 2
    count = feature_maps("images", images).shape[0]
    if count < needed:
        kind = "debiased CKA" if debiased else "CKA"
        raise ValueError(f"images: the {kind} needs at least {needed} images, got {count}")
    distinct = len({image.detach().cpu().numpy().tobytes() for image in images})
    if distinct < needed:
        raise ValueError(f"images: {count} images but only {distinct} different one(s) (copies of one image); "
                         f"{'debiased CKA' if debiased else 'CKA'} compares how layers vary across images and "
                         f"needs {needed} different images")
    return cka_map(layer_grams(model_a, images, layers_a), layer_grams(model_b, images, layers_b), debiased=debiased)
