"""Invalid option values for the argument tests, and the check that a call refuses them properly."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

import pytest
import torch
from hypothesis import settings
from hypothesis import strategies as st

#: Argument tests build tiny models and tensors; a few dozen examples find what a thousand would.
ARGUMENT_SETTINGS = settings(max_examples=25, deadline=None)

NON_NUMBERS = st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.lists(st.integers(), max_size=2))
NOT_POSITIVE_INTS = st.one_of(
    st.integers(max_value=0),
    st.floats(allow_nan=True, allow_infinity=True),
    NON_NUMBERS,
)
NOT_BOOLEANS = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=3))
NOT_STRINGS = st.one_of(st.none(), st.integers(), st.floats(), st.lists(st.text(max_size=2), max_size=2))
NOT_MODULES = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.just(torch.zeros(2, 3)),
    st.just(torch.nn.Conv2d),  # the class, not a module instance
)
#: Outside [0, 1]: negative, above 1, NaN, infinite, or not a number at all.
NOT_UNIT_FRACTIONS = st.one_of(
    st.floats(max_value=-1e-6),
    st.floats(min_value=1.000001),
    st.just(float("nan")),
    NON_NUMBERS,
)


def wrong(argument: str, values: st.SearchStrategy) -> st.SearchStrategy[tuple[str, dict]]:
    """(argument, keyword arguments in which only it is wrong), for one call per bad argument."""
    return st.tuples(st.just(argument), values.map(lambda value: {argument: value}))


def rejects(argument: str, call: Callable, *args, **kwargs) -> ValueError:
    """``call(*args, **kwargs)`` raises a ValueError whose message names ``argument``.

    Any other exception (IndexError, RuntimeError from torch, TypeError, ...) fails the test as it is.
    """
    with pytest.raises(ValueError, match=re.escape(argument)) as caught:
        call(*args, **kwargs)
    return caught.value


def check_coverage(public: set[str], covered: dict[str, tuple], exempt: dict[str, str]) -> None:
    """Every public name is covered by argument tests or exempt (never both), and neither registry
    names something no longer public."""
    missing = sorted(public - set(covered) - set(exempt))
    assert not missing, f"public names without argument tests: {missing}; add them to COVERED or EXEMPT"
    assert not sorted((set(covered) | set(exempt)) - public), "COVERED/EXEMPT name something no longer public"
    assert not set(covered) & set(exempt)


def check_tests_exist(references: tuple[str, ...]) -> None:
    """Each ``"module::test"`` reference names a test function that exists."""
    for reference in references:
        module_name, _, test_name = reference.partition("::")
        assert callable(getattr(importlib.import_module(module_name), test_name, None)), f"{reference} is gone"
