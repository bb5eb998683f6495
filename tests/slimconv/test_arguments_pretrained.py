"""Arguments of the checkpoint API (slimconv.pretrained): input specs, sources, names, and wrong types.

Damaged and foreign files are the subject of tests/slimconv/test_checkpoint.py; here the arguments are.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from PIL import Image

import slimconv
from slimconv import pretrained

from .._arguments import ARGUMENT_SETTINGS, rejects

CHANNELS = st.sampled_from([1, 3])
FINITE = st.floats(-2, 2, allow_nan=False)
NOT_SOURCES = st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.integers(), max_size=2))


@st.composite
def input_specs(draw) -> pretrained.InputSpec:
    in_chans = draw(CHANNELS)
    resize = draw(st.integers(1, 40))
    return pretrained.InputSpec(
        in_chans,
        resize,
        draw(st.integers(1, resize)),
        draw(st.integers(0, 3)),
        tuple(draw(FINITE) for _ in range(in_chans)),
        tuple(draw(st.floats(0.1, 2)) for _ in range(in_chans)),
    )


@ARGUMENT_SETTINGS
@given(spec=input_specs(), width=st.integers(1, 50), height=st.integers(1, 50), mode=st.sampled_from(["L", "RGB"]))
def test_input_spec_makes_inputs_of_its_input_size(spec, width, height, mode):
    side = spec.crop + 2 * spec.pad
    assert spec.input_size == (spec.in_chans, side, side)
    assert spec(Image.new(mode, (width, height))).shape == (1, *spec.input_size)


def bad_input_spec_values() -> st.SearchStrategy[tuple[str, object]]:
    """(field, a value out of its range): one InputSpec field at a time."""
    return st.one_of(
        st.tuples(st.just("in_chans"), st.integers().filter(lambda c: c not in {1, 3})),
        st.tuples(st.just("crop"), st.one_of(st.integers(29, 99), st.integers(max_value=0))),
        st.tuples(st.just("pad"), st.integers(max_value=-1)),
        st.tuples(st.just("mean"), st.lists(FINITE, min_size=2, max_size=3).map(tuple)),
        st.tuples(st.just("std"), st.floats(max_value=0).map(lambda s: (s,))),
    )


@ARGUMENT_SETTINGS
@given(bad=bad_input_spec_values())
def test_input_spec_rejects_values_out_of_range(bad):
    field, value = bad
    fields = dict(in_chans=1, resize=28, crop=28, pad=2, mean=(0.5,), std=(0.5,)) | {field: value}
    rejects(field, pretrained.InputSpec, **fields)


@ARGUMENT_SETTINGS
@given(image=st.one_of(st.none(), st.integers(), st.text(max_size=3), st.just(torch.zeros(3, 4, 4))))
def test_preprocessing_rejects_what_is_not_a_pil_image(image):
    spec = pretrained.InputSpec(3, 8, 8, 0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    rejects("PIL image", spec, image)
    rejects("PIL image", pretrained.convert_mode, image, 3)


@ARGUMENT_SETTINGS
@given(in_chans=st.integers().filter(lambda c: c not in (1, 3)))
def test_convert_mode_feeds_one_or_three_channels_only(in_chans):
    rejects("in_chans", pretrained.convert_mode, Image.new("RGB", (4, 4)), in_chans)


@ARGUMENT_SETTINGS
@given(source=NOT_SOURCES)
def test_checkpoint_readers_reject_sources_that_are_not_files(source):
    for read in (slimconv.read_checkpoint, slimconv.load_checkpoint):
        rejects("expected a path", read, source)
    rejects("expected a path", slimconv.export_safetensors, source, "unused.safetensors")


@ARGUMENT_SETTINGS
@given(name=st.one_of(st.text(max_size=12), st.none(), st.integers()))
def test_load_pretrained_rejects_names_it_does_not_bundle(name):
    assume(name not in slimconv.list_pretrained())
    rejects("pretrained model", slimconv.load_pretrained, name)


def test_list_pretrained_of_a_missing_folder_is_empty(tmp_path: Path):
    assert slimconv.list_pretrained(tmp_path / "missing") == []
    assert all(isinstance(name, str) for name in slimconv.list_pretrained())


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pretrained.Pretrained]:
    spec = pretrained.InputSpec(1, 8, 8, 0, (0.5,), (0.5,))
    model = slimconv.create_model("resnet20", in_chans=1, num_classes=2)
    meta = pretrained.CheckpointMeta.for_model(
        model, model_name="resnet20", op=None, policy=None, options={}, input=spec, classes=("a", "b"),
        dataset="toy", metrics={}, macs=1,
    )
    path = slimconv.save_checkpoint(tmp_path_factory.mktemp("ckpt") / "toy.pt", model, meta)
    return path, slimconv.load_checkpoint(path)


@ARGUMENT_SETTINGS
@given(num_classes=st.integers(-3, 9).filter(lambda n: n != 2))
def test_checkpoint_meta_needs_one_class_name_per_class(saved, num_classes):
    _, loaded = saved
    rejects("num_classes", dataclasses.replace, loaded.meta, num_classes=num_classes)
    rejects("input_size", pretrained.deployed_macs, loaded.model, (1, 0, 8))


@pytest.mark.parametrize("top_k", [0, -1])
def test_predict_needs_at_least_one_class(saved, top_k):
    _, loaded = saved
    rejects("top_k", loaded.predict, Image.new("L", (8, 8)), top_k=top_k)
    assert len(loaded.predict(Image.new("L", (8, 8)), top_k=5)) == 2


# Arguments of the wrong type or not finite, each once a TypeError, AttributeError or silent acceptance
# (the test keeps the name it had while these were known gaps: the coverage registry refers to it).
WRONG_ARGUMENTS = [
    ("InputSpec in_chans 3.0", "in_chans", lambda _: pretrained.InputSpec(3.0, 8, 8, 0, (0,) * 3, (1,) * 3)),
    ("InputSpec pad 1.5", "pad", lambda _: pretrained.InputSpec(1, 8, 8, 1.5, (0,), (1,))),
    ("InputSpec crop 'a'", "crop", lambda _: pretrained.InputSpec(1, 8, "a", 0, (0,), (1,))),
    ("InputSpec std NaN", "std", lambda _: pretrained.InputSpec(1, 8, 8, 0, (0,), (float("nan"),))),
    ("InputSpec mean NaN", "mean", lambda _: pretrained.InputSpec(1, 8, 8, 0, (float("nan"),), (1,))),
    ("InputSpec.from_values 'a'", "in_chans", lambda _: pretrained.InputSpec.from_values("a", 8, 8, 0, (0,), (1,))),
    ("list_pretrained(3)", "folder", lambda _: slimconv.list_pretrained(3)),
    ("load_pretrained folder=3", "folder", lambda _: slimconv.load_pretrained("x", folder=3)),
    ("save_checkpoint meta='x'", "meta", lambda s: slimconv.save_checkpoint(s[0].parent / "a.pt", s[1].model, "x")),
    ("save_checkpoint model=3", "model", lambda s: slimconv.save_checkpoint(s[0].parent / "a.pt", 3, s[1].meta)),
    ("save_checkpoint path=3", "path", lambda s: slimconv.save_checkpoint(3, s[1].model, s[1].meta)),
    ("export_safetensors path_out=3", "path_out", lambda s: slimconv.export_safetensors(s[0], 3)),
    ("predict top_k 'a'", "top_k", lambda s: s[1].predict(Image.new("L", (8, 8)), top_k="a")),
    ("build_model meta='x'", "meta", lambda _: pretrained.build_model("x", "source")),
    ("CheckpointMeta input='x'", "input", lambda s: pretrained.CheckpointMeta(**{**vars(s[1].meta), "input": "x"})),
    ("write_atomically str data", "data", lambda s: pretrained.write_atomically(s[0].parent / "w", "text")),
]


@pytest.mark.parametrize(("call", "argument"), [(c, a) for _, a, c in WRONG_ARGUMENTS],
                         ids=[case[0] for case in WRONG_ARGUMENTS])
def test_pretrained_rejects_wrong_arguments(saved, call, argument):
    rejects(argument, call, saved)
