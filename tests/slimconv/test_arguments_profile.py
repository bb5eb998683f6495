"""Arguments of the measurements: parameter and MAC counts, the per-layer profile and latency."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import slimconv

from .._arguments import ARGUMENT_SETTINGS, NON_NUMBERS, NOT_BOOLEANS, NOT_MODULES, NOT_POSITIVE_INTS, rejects

SIDES = st.integers(1, 6)
CHANNELS = st.integers(1, 4)
# Wrong length, a non-integer entry, a size below 1, or not a sequence at all.
NOT_INPUT_SIZES = st.one_of(
    st.lists(SIDES, max_size=2).map(tuple),
    st.lists(SIDES, min_size=5, max_size=6).map(tuple),
    st.tuples(CHANNELS, st.floats(1.5, 4.5), SIDES),
    st.tuples(CHANNELS, SIDES, st.booleans()),
    st.tuples(CHANNELS, st.integers(max_value=0), SIDES),
    st.tuples(st.integers(max_value=0), SIDES, SIDES, SIDES),
    st.text(max_size=3),
    st.none(),
    st.integers(),
)


def single_conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)


@ARGUMENT_SETTINGS
@given(cin=CHANNELS, cout=CHANNELS, k=st.sampled_from([1, 3]), bias=st.booleans())
def test_count_params_counts_every_weight(cin, cout, k, bias):
    conv = nn.Conv2d(cin, cout, k, bias=bias)
    assert slimconv.count_params(conv) == cout * cin * k * k + (cout if bias else 0)
    assert slimconv.count_training_only_params(conv) == 0


def test_training_only_params_are_counted_apart():
    layer = slimconv.create_conv("flgc", 8, 8, 1, groups=2)
    total = sum(p.numel() for p in layer.parameters())
    assert slimconv.count_training_only_params(layer) > 0
    assert slimconv.count_params(layer) + slimconv.count_training_only_params(layer) == total


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES)
def test_counts_reject_a_model_that_is_not_a_module(model):
    rejects("model", slimconv.count_params, model)
    rejects("model", slimconv.count_training_only_params, model)
    rejects("model", slimconv.count_macs, model, (3, 4, 4))
    rejects("model", slimconv.profile, model, (3, 4, 4))


@ARGUMENT_SETTINGS
@given(cin=CHANNELS, cout=CHANNELS, k=st.sampled_from([1, 3]), h=SIDES, w=SIDES, batch=st.integers(1, 3))
def test_count_macs_and_profile_of_one_conv(cin, cout, k, h, w, batch):
    conv = single_conv(cin, cout, k)
    macs = cout * cin * k * k * h * w
    assert slimconv.count_macs(conv, (cin, h, w)) == macs
    assert slimconv.count_macs(conv, (batch, cin, h, w)) == batch * macs
    table = slimconv.profile(conv, [cin, h, w]).training
    assert (table.macs, table.params, table.input_size) == (macs, cout * cin * k * k, (1, cin, h, w))
    assert sum(layer.macs for layer in table.layers) == macs


@ARGUMENT_SETTINGS
@given(input_size=NOT_INPUT_SIZES)
def test_count_macs_and_profile_reject_malformed_input_sizes(input_size):
    conv = single_conv(2, 2, 3)
    rejects("input_size", slimconv.count_macs, conv, input_size)
    rejects("input_size", slimconv.profile, conv, input_size)


@ARGUMENT_SETTINGS
@given(cin=CHANNELS, given_channels=CHANNELS, side=SIDES)
def test_an_input_size_with_other_channels_than_the_model_takes_is_named(cin, given_channels, side):
    assume(cin != given_channels)
    model = nn.Sequential(single_conv(cin, 4, 3), nn.ReLU(), single_conv(4, 2, 1))
    error = rejects("input_size", slimconv.count_macs, model, (given_channels, side, side))
    assert f"takes {cin}" in str(error)
    rejects("input_size", slimconv.profile, model, (given_channels, side, side))


def test_a_failure_of_the_model_itself_is_not_blamed_on_the_input():
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("broken model")

    with pytest.raises(RuntimeError, match="broken model"):
        slimconv.count_macs(Broken(), (3, 4, 4))


FAST = dict(warmup=0, min_run_time_s=1e-3)


@pytest.mark.parametrize("batch_size", [1, 2])
def test_measure_latency_reports_its_setup(batch_size):
    result = slimconv.measure_latency(single_conv(2, 2, 3), (2, 4, 4), batch_size=batch_size, threads=1, **FAST)
    assert result.median_ms > 0 and result.runs >= 1
    assert (result.batch_size, result.threads, result.device, result.dtype) == (batch_size, 1, "cpu", "float32")


def bad_latency_arguments() -> st.SearchStrategy[tuple[str, object]]:
    """(argument, bad value) pairs, one argument at a time."""
    return st.one_of(
        st.tuples(st.just("batch_size"), NOT_POSITIVE_INTS),
        st.tuples(st.just("threads"), NOT_POSITIVE_INTS.filter(lambda value: value is not None)),
        st.tuples(st.just("warmup"), st.one_of(st.integers(max_value=-1), st.floats(), NON_NUMBERS)),
        st.tuples(st.just("min_run_time_s"), st.one_of(st.floats(max_value=0), st.just(float("inf")), NON_NUMBERS)),
        st.tuples(st.just("min_run_time_s"), st.just(float("nan"))),
        st.tuples(st.just("channels_last"), NOT_BOOLEANS),
        st.tuples(st.just("dtype"), st.sampled_from(["float32", torch.int64, torch.bool, 32, None])),
        st.tuples(st.just("device"), st.sampled_from(["gpu", "cpu:x", 3.5, None])),
    )


@ARGUMENT_SETTINGS
@given(bad=bad_latency_arguments())
def test_measure_latency_rejects_each_bad_argument_before_timing(bad):
    argument, value = bad
    rejects(argument, slimconv.measure_latency, single_conv(2, 2, 3), (2, 4, 4), **{**FAST, argument: value})


@ARGUMENT_SETTINGS
@given(model=NOT_MODULES, input_size=NOT_INPUT_SIZES)
def test_measure_latency_rejects_bad_models_and_input_sizes(model, input_size):
    rejects("model", slimconv.measure_latency, model, (2, 4, 4), **FAST)
    rejects("input_size", slimconv.measure_latency, single_conv(2, 2, 3), input_size, **FAST)
    rejects("input_size", slimconv.measure_latency, single_conv(2, 2, 3), (3, 4, 4), **FAST)
