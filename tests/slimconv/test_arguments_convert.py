"""Arguments of model surgery: convert, its policies, deploy and the operator registry."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import slimconv
from slimconv.deploy import NothingToDeployWarning
from slimconv.ops import SlimConv2d, _registry

from .._arguments import ARGUMENT_SETTINGS, NOT_BOOLEANS, NOT_MODULES, NOT_UNIT_FRACTIONS, rejects

OPS = slimconv.list_ops()
WIDTHS = st.sampled_from([8, 16])
UNKNOWN_NAMES = st.text(min_size=1, max_size=8).filter(lambda name: name not in OPS)
NOT_OPERATOR_NAMES = st.one_of(UNKNOWN_NAMES, st.none(), st.integers(), st.lists(st.just("spconv"), max_size=1))
NOT_POLICIES = st.one_of(st.text(max_size=8).filter(lambda p: p not in slimconv.POLICIES), st.integers())


def conv_stack(widths: list[int]) -> nn.Sequential:
    """3x3 convs 3 -> widths[0] -> widths[1] ..., with ReLUs: what every operator can replace."""
    layers: list[nn.Module] = []
    for cin, cout in zip([3, *widths[:-1]], widths, strict=True):
        layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


def conv_count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(module, kind) for module in model.modules())


def operator_options(op: str) -> set[str]:
    parameters = inspect.signature(slimconv.get_op(op)).parameters.values()
    return {p.name for p in parameters if p.kind is p.KEYWORD_ONLY} - {"device", "dtype"}


@ARGUMENT_SETTINGS
@given(
    op=st.sampled_from(OPS),
    policy=st.sampled_from(["all", "3x3", "except-stem"]),
    widths=st.lists(WIDTHS, min_size=2, max_size=3),
    inplace=st.booleans(),
)
def test_convert_replaces_what_the_policy_selects(op, policy, widths, inplace):
    model = conv_stack(widths)
    x = torch.randn(1, 3, 6, 6)
    converted, report = slimconv.convert(model, op, policy=policy, inplace=inplace, return_report=True)
    assert (converted is model) == inplace
    assert len(report.replaced) + len(report.skipped) == len(slimconv.select_convs(conv_stack(widths), policy))
    assert len(report.replaced) >= 1
    assert conv_count(converted, slimconv.get_op(op)) == len(report.replaced)
    assert converted.eval()(x).shape == (1, widths[-1], 6, 6)


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES)
def test_convert_rejects_a_model_that_is_not_a_module(model):
    rejects("model", slimconv.convert, model, "spconv")


@ARGUMENT_SETTINGS
@given(op=NOT_OPERATOR_NAMES)
def test_convert_rejects_unknown_operators(op):
    rejects("operator", slimconv.convert, conv_stack([8, 8]), op)


@ARGUMENT_SETTINGS
@given(policy=NOT_POLICIES)
def test_convert_rejects_unknown_policies(policy):
    rejects("policy", slimconv.convert, conv_stack([8, 8]), "spconv", policy=policy)


@ARGUMENT_SETTINGS
@given(flag=st.sampled_from(["inplace", "return_report"]), value=NOT_BOOLEANS)
def test_convert_rejects_flags_that_are_not_booleans(flag, value):
    rejects(flag, slimconv.convert, conv_stack([8, 8]), "spconv", **{flag: value})


@ARGUMENT_SETTINGS
@given(op=st.sampled_from(OPS), option=st.from_regex(r"[a-z_]{1,10}", fullmatch=True))
def test_convert_rejects_options_the_operator_does_not_have(op, option):
    assume(option not in operator_options(op))
    rejects(repr(option), slimconv.convert, conv_stack([8, 8]), op, **{option: 1})


@pytest.mark.parametrize("geometry", ["in_channels", "kernel_size", "stride", "padding", "bias", "device", "dtype"])
def test_convert_rejects_geometry_given_as_an_option(geometry):
    rejects(repr(geometry), slimconv.convert, conv_stack([8, 8]), "spconv", **{geometry: 1})


@ARGUMENT_SETTINGS
@given(alpha=NOT_UNIT_FRACTIONS, groups=st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=2)))
def test_convert_passes_bad_option_values_on_as_value_errors(alpha, groups):
    rejects("alpha", slimconv.convert, conv_stack([8, 8]), "spconv", alpha=alpha)
    rejects("groups", slimconv.convert, conv_stack([8, 8]), "flgc", policy="all", groups=groups)


def test_convert_of_a_model_without_convolutions_says_it_replaced_nothing():
    rejects("replaced nothing", slimconv.convert, nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), "spconv")


@ARGUMENT_SETTINGS
@given(op=st.sampled_from(OPS))
def test_default_policy_is_a_builtin_policy(op):
    assert slimconv.default_policy(op) in slimconv.POLICIES


@ARGUMENT_SETTINGS
@given(op=NOT_OPERATOR_NAMES)
def test_default_policy_rejects_unknown_operators(op):
    rejects("operator", slimconv.default_policy, op)


@ARGUMENT_SETTINGS
@given(policy=st.sampled_from(slimconv.POLICIES), widths=st.lists(WIDTHS, min_size=1, max_size=3))
def test_select_convs_names_convolutions_of_the_model(policy, widths):
    model = conv_stack(widths)
    names = dict(model.named_modules())
    selected = slimconv.select_convs(model, policy)
    assert all(isinstance(names[name], nn.Conv2d) for name in selected)
    assert len(set(selected)) == len(selected)


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, policy=st.one_of(NOT_POLICIES, st.none()))
def test_select_convs_rejects_bad_models_and_policies(model, policy):
    rejects("model", slimconv.select_convs, model, "all")
    rejects("policy", slimconv.select_convs, conv_stack([8]), policy)


@ARGUMENT_SETTINGS
@given(op=st.sampled_from(OPS), widths=st.lists(WIDTHS, min_size=2, max_size=3), inplace=st.booleans())
def test_deploy_fuses_every_operator_and_keeps_the_function(op, widths, inplace):
    model = slimconv.convert(conv_stack(widths), op, policy="3x3").eval()
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        expected = model(x)
        deployed = slimconv.deploy(model, inplace=inplace)
        assert (deployed is model) == inplace
        assert slimconv.count_training_only_params(deployed) == 0
        assert not deployed.training
        torch.testing.assert_close(deployed(x), expected, rtol=1e-4, atol=1e-4)


def test_deploy_of_a_dense_model_warns_and_returns_it_in_eval_mode():
    with pytest.warns(NothingToDeployWarning):
        assert not slimconv.deploy(conv_stack([8])).training


def test_deploy_form_is_a_dense_model_itself_and_the_deploy_of_an_operator_model():
    dense = conv_stack([8]).train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NothingToDeployWarning: a dense model is its own deploy form
        assert slimconv.deploy_form(dense) is dense
    assert dense.training  # unchanged, not even its mode
    model = slimconv.convert(conv_stack([8, 8]), "spconv", policy="3x3").eval()
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        deployed = slimconv.deploy_form(model)
        assert deployed is not model and slimconv.count_training_only_params(deployed) == 0
        assert not any(isinstance(module, SlimConv2d) for module in deployed.modules())
        torch.testing.assert_close(deployed(x), model(x), rtol=1e-4, atol=1e-4)


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, inplace=NOT_BOOLEANS)
def test_deploy_form_rejects_bad_models_and_flags(model, inplace):
    rejects("model", slimconv.deploy_form, model)
    rejects("inplace", slimconv.deploy_form, conv_stack([8]), inplace=inplace)


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, inplace=NOT_BOOLEANS)
def test_deploy_rejects_bad_models_and_flags(model, inplace):
    rejects("model", slimconv.deploy, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NothingToDeployWarning)
        rejects("inplace", slimconv.deploy, conv_stack([8]), inplace=inplace)


def test_conv_layers_lists_dense_convs_and_operators_but_not_the_parts_of_an_operator():
    model = slimconv.convert(conv_stack([8, 8]), "spconv", policy="3x3", return_report=False)
    model[0] = nn.Conv2d(3, 8, 3, padding=1)  # one dense conv again, beside the operator
    layers = slimconv.conv_layers(model)
    assert [(name, type(layer).__name__) for name, layer in layers] == [("0", "Conv2d"), ("2", "SPConv2d")]
    assert [name for name, _ in slimconv.conv_layers(model[2])] == [""]  # a model that is one operator
    assert slimconv.conv_layers(nn.Sequential(nn.ReLU())) == []


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES)
def test_conv_layers_rejects_what_is_not_a_module(model):
    rejects("model", slimconv.conv_layers, model)


def test_list_ops_is_sorted_names_each_of_which_get_op_knows():
    assert OPS == sorted(OPS) and all(isinstance(name, str) for name in OPS)
    assert all(issubclass(slimconv.get_op(name), SlimConv2d) for name in OPS)


@ARGUMENT_SETTINGS
@given(op=NOT_OPERATOR_NAMES)
def test_get_op_and_create_conv_reject_unknown_operators(op):
    rejects("operator", slimconv.get_op, op)
    rejects("operator", slimconv.create_conv, op, 8, 8, 3)


class _Identity(SlimConv2d):
    """The smallest operator there is: enough to register."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations in a test vanish after it: other tests see the real registry."""
    monkeypatch.setattr(_registry, "_OPS", dict(_registry._OPS))


@ARGUMENT_SETTINGS
@given(name=st.from_regex(r"scratch_[a-z]{1,6}", fullmatch=True))
def test_register_op_makes_an_operator_available(name):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_registry, "_OPS", dict(_registry._OPS))
        operator = type(f"Op_{name}", (_Identity,), {})
        assert slimconv.register_op(name)(operator) is operator
        assert slimconv.get_op(name) is operator and name in slimconv.list_ops()
        rejects("registered twice", slimconv.register_op(name), type("Again", (_Identity,), {}))
    assert name not in slimconv.list_ops()


@ARGUMENT_SETTINGS
@given(name=st.one_of(st.just(""), st.none(), st.integers(), st.lists(st.text(max_size=2), max_size=2)))
def test_register_op_rejects_names_that_are_not_strings(name):
    rejects("operator name", slimconv.register_op, name)


@pytest.mark.parametrize("target", [int, nn.Conv2d, "spconv", _Identity(3, 3, 3)])
def test_register_op_decorates_operator_classes_only(scratch_registry, target):
    rejects("SlimConv2d", slimconv.register_op("scratch"), target)
