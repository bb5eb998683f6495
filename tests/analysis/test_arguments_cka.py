"""Arguments of linear CKA: Gram matrices, CKA between representations, layer-by-layer maps of models."""

from __future__ import annotations

import math

import torch
from hypothesis import given
from hypothesis import strategies as st

import analysis

from .._arguments import ARGUMENT_SETTINGS, NOT_BOOLEANS, NOT_MODULES, rejects
from ._arguments import NOT_TENSORS, bad_square_matrices, bad_tensors, seeded_randn
from ._models import TinyNet, images

EXAMPLES = st.integers(4, 7)
SEEDS = st.integers(0, 2**16)
NOT_LAYER_NAMES = st.one_of(st.integers(), st.lists(st.integers(), min_size=1, max_size=2), st.just(["conv1", 3]))


@ARGUMENT_SETTINGS
@given(n=EXAMPLES, features=st.integers(1, 6), seed=SEEDS, debiased=st.booleans())
def test_cka_of_random_representations_is_in_range_and_one_for_itself(n, features, seed, debiased):
    x, y = seeded_randn(seed, n, features, 2), seeded_randn(seed + 1, n, 3)
    gram = analysis.gram_matrix(x)
    assert gram.shape == (n, n) and gram.dtype == torch.float64 and torch.allclose(gram, gram.T)
    value = analysis.linear_cka(x, y, debiased=debiased)
    assert -1 - 1e-9 <= value <= 1 + 1e-9
    assert math.isclose(analysis.linear_cka(x, 3 * x, debiased=debiased), 1.0, rel_tol=1e-6)
    assert math.isclose(analysis.cka_from_grams(gram, gram, debiased=debiased), 1.0, rel_tol=1e-6)


@ARGUMENT_SETTINGS
@given(features=bad_tensors(dims=(2, 3, 4, 5)), other_n=st.integers(1, 3), debiased=NOT_BOOLEANS)
def test_cka_rejects_bad_representations(features, other_n, debiased):
    rejects("features", analysis.gram_matrix, features)
    rejects("x", analysis.linear_cka, features, torch.randn(4, 3))
    rejects("y", analysis.linear_cka, torch.randn(4, 3), features)
    rejects("examples", analysis.linear_cka, torch.randn(4, 3), torch.randn(4 + other_n, 3))
    rejects("examples", analysis.linear_cka, torch.randn(3, 2), torch.randn(3, 2), debiased=True)
    rejects("debiased", analysis.linear_cka, torch.randn(4, 3), torch.randn(4, 3), debiased=debiased)


@ARGUMENT_SETTINGS
@given(gram=bad_square_matrices(), other_n=st.integers(1, 3), debiased=NOT_BOOLEANS)
def test_cka_from_grams_rejects_bad_gram_matrices(gram, other_n, debiased):
    good = analysis.gram_matrix(torch.randn(4, 3))
    rejects("gram_x", analysis.cka_from_grams, gram, good)
    rejects("gram_y", analysis.cka_from_grams, good, gram)
    rejects("gram_x and gram_y", analysis.cka_from_grams, good, analysis.gram_matrix(torch.randn(4 + other_n, 3)))
    rejects("debiased", analysis.cka_from_grams, good, good, debiased=debiased)


@ARGUMENT_SETTINGS
@given(n=EXAMPLES, layers=st.sampled_from([None, ["conv1"], ["conv1", "fc"], "conv2"]), debiased=st.booleans())
def test_layer_grams_and_cka_maps_of_a_model(n, layers, debiased):
    model, batch = TinyNet(), images(batch=n, size=6)
    reported: list[float] = []
    grams = analysis.layer_grams(model, batch, layers, progress=lambda done, _: reported.append(done))
    expected = ["conv1", "conv2"] if layers is None else [layers] if isinstance(layers, str) else layers
    assert list(grams) == expected and all(gram.shape == (n, n) for gram in grams.values())
    assert reported[-1] == 1.0
    cka = analysis.cka_map(grams, grams, debiased=debiased)
    assert cka.matrix.shape == (len(expected), len(expected)) and cka.num_images == n
    same = analysis.model_cka_map(model, model, batch, layers_a=layers, layers_b=layers, debiased=debiased)
    assert torch.allclose(same.matrix.diagonal(), torch.ones(len(expected), dtype=torch.float64))


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, batch=bad_tensors(dims=(3, 4)), layer_names=NOT_LAYER_NAMES)
def test_layer_grams_rejects_bad_models_images_and_layers(model, batch, layer_names):
    rejects("model", analysis.layer_grams, model, images(4, 6))
    rejects("images", analysis.layer_grams, TinyNet(), batch)
    rejects("layer_names", analysis.layer_grams, TinyNet(), images(4, 6), layer_names)
    rejects("progress", analysis.layer_grams, TinyNet(), images(4, 6), progress="every layer")
    rejects("no layer named", analysis.layer_grams, TinyNet(), images(4, 6), ["conv3"])
    rejects("images have 2 channels", analysis.layer_grams, TinyNet(), torch.randn(4, 2, 6, 6))


@ARGUMENT_SETTINGS
@given(not_grams=st.one_of(NOT_TENSORS, st.just({}), st.builds(lambda gram: {"conv1": gram}, bad_square_matrices())))
def test_cka_map_rejects_what_is_not_a_dict_of_gram_matrices(not_grams):
    grams = {"conv1": analysis.gram_matrix(torch.randn(4, 3))}
    rejects("grams_a", analysis.cka_map, not_grams, grams)
    rejects("grams_b", analysis.cka_map, grams, not_grams)
    rejects("same images", analysis.cka_map, grams, {"conv1": analysis.gram_matrix(torch.randn(5, 3))})


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, n=st.integers(1, 3), debiased=NOT_BOOLEANS)
def test_model_cka_map_rejects_bad_models_and_too_few_images(model, n, debiased):
    rejects("model", analysis.model_cka_map, model, TinyNet(), images(4, 6))
    rejects("model", analysis.model_cka_map, TinyNet(), model, images(4, 6))
    rejects("images", analysis.model_cka_map, TinyNet(), TinyNet(), images(n, 6))
    rejects("debiased", analysis.model_cka_map, TinyNet(), TinyNet(), images(4, 6), debiased=debiased)
