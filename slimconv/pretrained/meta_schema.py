"""The schema of a checkpoint's metadata: known keys, typed and bounded values, checked before any use.

Metadata comes from a file, so it is untrusted: its size and shape are bounded first (:mod:`.bounded`),
then every key is checked here. Model names come only from slimconv's registry, operator options only
from what the operator declares (with their declared types), and nothing in a file can name a path, a URL
or a download: ``options.weights`` is refused like any other undeclared option, before anything runs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

from .bounded import short

#: Bounds on what metadata may describe: the model's input side (``crop + 2 pad``), the resize target
#: (the image is resized to this shorter side before the crop), classes and the lengths of its strings.
MAX_INPUT_SIDE = 512
MAX_RESIZE = 2048
MAX_CLASSES = 100_000
MAX_NAME_CHARS = 256
MAX_COUNT = 10**15  # params and MACs: far above any real model, far below an overflow

_KNOWN = ("model", "op", "policy", "options", "num_classes", "in_chans", "input_size", "resize", "crop", "pad",
          "mean", "std", "classes", "dataset", "metrics", "params", "macs", "torch_version", "slimconv_version",
          "date", "train_config", "ood")
#: The out-of-distribution reference (key ``ood``): its method and keys, and the largest feature size stored.
OOD_METHOD = "mahalanobis-penultimate"
MAX_OOD_FEATURES = 64
_OOD_KEYS = ("method", "layer", "fit_images", "test_images", "class_means", "precision_cholesky", "quantile_levels",
             "quantiles")
_TYPE_NAMES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
                                            "None": (type(None),)}


def _string(name: str, value: object, limit: int = MAX_NAME_CHARS) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {short(value)}")
    if len(value) > limit:
        raise ValueError(f"{name} is {len(value):,} characters long, over the limit of {limit}")
    return value


def _integer(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low:,} to {high:,}, got {short(value)}")
    return value


def _number(name: str, value: object) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {short(value)}")
    return value


def check_model_name(name: object) -> str:
    from ..models import is_model_name

    name = _string("model", name)
    if not is_model_name(name):
        raise ValueError(f"model {short(name)} is not in slimconv's registry (slimconv.list_models())")
    return name


def _declared_options(op: str) -> dict[str, tuple[type, ...]]:
    """The operator's keyword options and the types its signature declares (``"int | None"`` and so on)."""
    from ..ops import get_op

    declared = {}
    for parameter in inspect.signature(get_op(op)).parameters.values():
        if parameter.kind is not parameter.KEYWORD_ONLY or parameter.name in ("device", "dtype"):
            continue
        annotation = parameter.annotation if isinstance(parameter.annotation, str) else ""
        kinds = tuple(kind for part in annotation.split("|") for kind in _TYPE_NAMES.get(part.strip(), ()))
        declared[parameter.name] = kinds or (str, int, float, bool, type(None))
    return declared


def check_options(op: str | None, options: object) -> dict[str, Any]:
    """``options`` if each is an option that ``op`` declares, with a value of its declared type."""
    if not isinstance(options, Mapping):
        raise ValueError(f"options must be a dict, got {short(options)}")
    if op is None:
        if options:
            raise ValueError(f"a dense model (op None) takes no options, got {len(options)} option(s)")
        return {}
    declared = _declared_options(op)
    checked = {}
    for key, value in options.items():
        if key not in declared:
            raise ValueError(f"{short(key)} is not an option of operator {op!r} (its options: "
                             f"{', '.join(declared) or 'none'}); a checkpoint cannot name files, URLs or downloads")
        kinds = declared[key]
        if type(value) not in kinds or (isinstance(value, float) and not math.isfinite(value)):
            names = " or ".join(kind.__name__ for kind in kinds)
            raise ValueError(f"option {key!r} of operator {op!r} must be {names}, got {short(value)}")
        if isinstance(value, str):
            _string(f"option {key!r}", value, 64)
        checked[key] = value
    return checked


def _choice(name: str, value: object, choices: list[str] | tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be None or one of {', '.join(choices)}, got {short(value)}")
    return value


def _input_geometry(values: Mapping[str, Any]) -> None:
    resize = _integer("resize", values["resize"], 1, MAX_RESIZE)
    crop = _integer("crop", values["crop"], 1, resize)
    pad = _integer("pad", values["pad"], 0, MAX_INPUT_SIDE)
    side = crop + 2 * pad
    if side > MAX_INPUT_SIDE:
        raise ValueError(f"the model input would be {side}x{side} pixels (crop {crop} + 2 x pad {pad}), over the "
                         f"limit of {MAX_INPUT_SIDE}x{MAX_INPUT_SIDE}")
    if "input_size" in values:
        stated = values["input_size"]
        expected = [values["in_chans"], side, side]
        if type(stated) not in (list, tuple) or list(stated) != expected:
            raise ValueError(f"input_size {short(stated)} does not match in_chans, crop and pad ({expected})")


def check_metrics(value: object) -> dict[str, float | int]:
    if not isinstance(value, Mapping):
        raise ValueError(f"metrics must be a dict of names to numbers, got {short(value)}")
    return {_string("a metric name", key, 128): _number(f"metric {short(key)}", item) for key, item in value.items()}


def _classes(value: object, num_classes: int) -> tuple[str, ...]:
    if type(value) not in (list, tuple):
        raise ValueError(f"classes must be a list of names, got {short(value)}")
    if len(value) != num_classes:
        raise ValueError(f"{len(value):,} class names for num_classes={num_classes}")
    return tuple(_string(f"class name {index}", name) for index, name in enumerate(value))


def _numbers(name: str, value: object, length: int) -> list[float | int]:
    if type(value) not in (list, tuple) or len(value) != length:
        raise ValueError(f"{name} must be a list of {length} number(s), got {short(value)}")
    return [_number(f"{name}[{index}]", item) for index, item in enumerate(value)]


def check_ood(value: object, num_classes: int) -> dict[str, Any] | None:
    """The out-of-distribution reference (``analysis.ood``): class means ``K x D`` (``D <= MAX_OOD_FEATURES``),
    a packed lower-triangular Cholesky factor with a positive diagonal, and non-decreasing quantiles of the
    test images' distances at increasing levels in (0, 1); ``None`` when the checkpoint has none."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != set(_OOD_KEYS):
        raise ValueError(f"ood must be None or a dict with exactly the keys {', '.join(_OOD_KEYS)}")
    if value["method"] != OOD_METHOD:
        raise ValueError(f"ood method must be {OOD_METHOD!r}, got {short(value['method'])}")
    means = value["class_means"]
    if type(means) not in (list, tuple) or len(means) != num_classes or not means:
        raise ValueError(f"ood class_means must hold one row per class ({num_classes}), got {short(means)}")
    dim = len(means[0]) if type(means[0]) in (list, tuple) else 0
    if not 1 <= dim <= MAX_OOD_FEATURES:
        raise ValueError(f"ood features must have 1 to {MAX_OOD_FEATURES} dimensions, got {short(means[0])}")
    rows = value["precision_cholesky"]
    if type(rows) not in (list, tuple) or len(rows) != dim:
        raise ValueError(f"ood precision_cholesky must have {dim} rows, got {short(rows)}")
    lower = [_numbers(f"ood precision_cholesky[{i}]", row, i + 1) for i, row in enumerate(rows)]
    if any(row[-1] <= 0 for row in lower):
        raise ValueError("ood precision_cholesky must have a positive diagonal")
    levels = value["quantile_levels"]
    count = len(levels) if type(levels) in (list, tuple) else 0
    if not 1 <= count <= 16:
        raise ValueError(f"ood quantile_levels must be a list of 1 to 16 levels, got {short(levels)}")
    levels = _numbers("ood quantile_levels", levels, count)
    bounds = [0, *levels, 1]
    if any(b <= a for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValueError("ood quantile_levels must increase strictly within (0, 1)")
    quantiles = _numbers("ood quantiles", value["quantiles"], count)
    if quantiles[0] < 0 or any(b < a for a, b in zip(quantiles, quantiles[1:], strict=False)):
        raise ValueError("ood quantiles must be non-negative and non-decreasing")
    return {"method": OOD_METHOD, "layer": _string("ood layer", value["layer"]),
            "fit_images": _integer("ood fit_images", value["fit_images"], 1, 10**9),
            "test_images": _integer("ood test_images", value["test_images"], 1, 10**9),
            "class_means": [_numbers(f"ood class_means[{i}]", row, dim) for i, row in enumerate(means)],
            "precision_cholesky": lower, "quantile_levels": levels, "quantiles": quantiles}


def check_meta_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata's values, each checked against the schema; ``ValueError`` naming the first bad one.

    ``values`` must already have passed :func:`.bounded.check_bounded` (size, depth, kinds)."""
    from ..ops import list_ops
    from ..policies import POLICIES

    unknown = [key for key in values if key not in _KNOWN]
    if unknown:
        raise ValueError(f"unknown metadata key(s) {', '.join(short(key, 40) for key in unknown[:3])}")
    op = _choice("op", values["op"], list_ops())
    num_classes = _integer("num_classes", values["num_classes"], 1, MAX_CLASSES)
    _input_geometry(values)
    train_config = values.get("train_config") or {}
    if not isinstance(train_config, Mapping):
        raise ValueError(f"train_config must be a dict, got {short(train_config)}")
    return {
        "model": check_model_name(values["model"]), "op": op, "policy": _choice("policy", values["policy"], POLICIES),
        "options": check_options(op, values["options"]), "num_classes": num_classes,
        "classes": _classes(values["classes"], num_classes), "dataset": _string("dataset", values["dataset"]),
        "metrics": check_metrics(values["metrics"]), "params": _integer("params", values["params"], 0, MAX_COUNT),
        "macs": _integer("macs", values["macs"], 0, MAX_COUNT),
        "torch_version": _string("torch_version", values["torch_version"], 64),
        "slimconv_version": _string("slimconv_version", values["slimconv_version"], 64),
        "date": _string("date", values["date"], 64),
        "train_config": {_string("a train_config key", key, 64): item for key, item in train_config.items()},
        "ood": check_ood(values.get("ood"), num_classes),
    }
