"""Arguments of the model zoo (create_model, list_models) and of the CLIs' operator specs (parse_op)."""

from __future__ import annotations

import argparse

import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import slimconv
from slimconv.op_spec import parse_op

from .._arguments import ARGUMENT_SETTINGS, NOT_BOOLEANS, NOT_POSITIVE_INTS, NOT_STRINGS, rejects

ANY_ZOO = st.sampled_from(["resnet20", "resnet18"])  # CIFAR and torchvision: both paths check first
NAMES = set(slimconv.list_models())


@ARGUMENT_SETTINGS
@given(in_chans=st.integers(1, 4), num_classes=st.integers(1, 12), side=st.sampled_from([8, 16]))
def test_create_model_builds_the_asked_input_and_output(in_chans, num_classes, side):
    model = slimconv.create_model("resnet20", in_chans=in_chans, num_classes=num_classes).eval()
    with torch.no_grad():
        assert model(torch.randn(1, in_chans, side, side)).shape == (1, num_classes)


@ARGUMENT_SETTINGS
@given(op=st.sampled_from(["spconv", "ghost", "linearconv"]))
def test_create_model_with_an_operator_converts_the_model(op):
    model = slimconv.create_model("resnet20", op=op)
    assert any(isinstance(module, slimconv.get_op(op)) for module in model.modules())


@ARGUMENT_SETTINGS
@given(name=st.one_of(NOT_STRINGS, st.text(max_size=10).filter(lambda name: name not in NAMES)))
def test_create_model_rejects_unknown_names(name):
    rejects("model", slimconv.create_model, name)


@ARGUMENT_SETTINGS
@given(name=ANY_ZOO, argument=st.sampled_from(["in_chans", "num_classes"]), value=NOT_POSITIVE_INTS)
def test_create_model_rejects_bad_sizes(name, argument, value):
    assume(not (argument == "num_classes" and value is None))  # None: the default number of classes
    rejects(argument, slimconv.create_model, name, **{argument: value})


@ARGUMENT_SETTINGS
@given(name=ANY_ZOO, weights=st.one_of(st.integers(), st.floats(), st.lists(st.text(max_size=2), max_size=2)))
def test_create_model_rejects_weights_of_the_wrong_type(name, weights):
    rejects("weights", slimconv.create_model, name, weights=weights)


@ARGUMENT_SETTINGS
@given(op=st.one_of(st.integers(), st.text(max_size=6).filter(lambda op: op not in slimconv.list_ops())))
def test_create_model_rejects_unknown_operators_and_options_without_one(op):
    rejects("operator", slimconv.create_model, "resnet20", op=op)
    rejects("need op", slimconv.create_model, "resnet20", alpha=0.5)


@ARGUMENT_SETTINGS
@given(include_torchvision=st.booleans())
def test_list_models_starts_with_the_zoo(include_torchvision):
    names = slimconv.list_models(include_torchvision=include_torchvision)
    assert names[0] == "resnet20" and ("resnet18" in names) == include_torchvision


@ARGUMENT_SETTINGS
@given(include_torchvision=NOT_BOOLEANS)
def test_list_models_rejects_a_flag_that_is_not_a_boolean(include_torchvision):
    rejects("include_torchvision", slimconv.list_models, include_torchvision=include_torchvision)


KEYS = st.from_regex(r"[a-z][a-z_0-9]{0,7}", fullmatch=True)
VALUES = st.one_of(st.integers(-5, 99), st.sampled_from([0.25, 0.5, 1e-3]), st.booleans(), st.sampled_from(["lowrank"]))


@ARGUMENT_SETTINGS
@given(op=st.sampled_from(slimconv.list_ops()), options=st.dictionaries(KEYS, VALUES, max_size=3))
def test_parse_op_reads_back_what_was_written(op, options):
    text = op + (":" + ",".join(f"{key}={value}" for key, value in options.items()) if options else "")
    assert parse_op(text) == (op, options)


MALFORMED_SPECS = st.one_of(
    st.builds(lambda key: f"spconv:{key}", KEYS),  # no '='
    st.builds(lambda value: f"spconv:={value}", VALUES),  # no key
    st.builds(lambda key: f"spconv:{key}=1,{key}=2", KEYS),  # a key twice
    st.builds(lambda rest: f":{rest}", st.text(max_size=5)),  # no operator name
    st.builds(lambda key: f"spconv:1{key}=3", KEYS),  # a key that is not a name
)


@ARGUMENT_SETTINGS
@given(text=st.one_of(MALFORMED_SPECS, NOT_STRINGS))
def test_parse_op_rejects_malformed_specs_for_argparse_and_python_callers(text):
    error = rejects("spec" if not isinstance(text, str) or text.startswith(":") else "option", parse_op, text)
    assert isinstance(error, argparse.ArgumentTypeError)  # argparse prints the message itself
