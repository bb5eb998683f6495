"""What a checkpoint records besides its weights: architecture, input spec, classes, metrics, provenance."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._validate import instance_of
from ..deploy import deploy_form
from ..errors import CheckpointError
from ..profile import count_macs, count_params
from .bounded import BoundExceeded, check_bounded
from .meta_schema import check_meta_values, check_metrics
from .preprocess import InputSpec

_REQUIRED = ("model", "op", "policy", "options", "num_classes", "in_chans", "resize", "crop", "pad", "mean", "std",
             "classes", "dataset", "metrics", "params", "macs", "torch_version", "slimconv_version", "date")


def deployed_macs(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    """Conv + linear MACs of one input through the model's deploy form (operators fused, docs/operators.md)."""
    return count_macs(deploy_form(model), input_size)


def _check_plain(name: str, value: Any) -> None:
    """Metadata must hold only dicts, lists, str, int, float, bool and None, bounded in size and depth
    (counted by a walk, never by serialising: see :mod:`.bounded`)."""
    try:
        check_bounded(value, f"checkpoint metadata {name!r}")
    except BoundExceeded as error:
        raise ValueError(str(error)) from None


@dataclass(frozen=True)
class CheckpointMeta:
    """Metadata of a slimconv checkpoint (stored as a plain dict by ``to_dict``).

    ``model``/``op``/``policy``/``options``/``num_classes`` and ``input.in_chans`` rebuild the network
    with ``create_model``; ``input`` says how images become inputs; ``metrics`` holds at least
    ``test_accuracy`` (fraction 0..1) for trained checkpoints; ``params`` is ``count_params`` (training-only
    parameters excluded), ``macs`` the conv + linear MACs of one input through the deploy form
    (``deployed_macs``); ``date`` is ISO 8601 UTC.
    """

    model: str
    op: str | None
    policy: str | None
    options: dict[str, Any]
    num_classes: int
    input: InputSpec
    classes: tuple[str, ...]
    dataset: str
    metrics: dict[str, float]
    params: int
    macs: int
    torch_version: str
    slimconv_version: str
    date: str
    train_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        instance_of("input", self.input, InputSpec)
        if len(self.classes) != self.num_classes:
            raise ValueError(f"{len(self.classes)} class names for num_classes={self.num_classes}")
        for name in ("options", "metrics", "train_config"):
            _check_plain(name, getattr(self, name))
        check_metrics(self.metrics)  # names to finite numbers, as a reader demands

    @property
    def in_chans(self) -> int:
        return self.input.in_chans

    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one model input."""
        return self.input.input_size

    @classmethod
    def for_model(
        cls,
        model: nn.Module,
        *,
        model_name: str,
        op: str | None,
        policy: str | None,
        options: Mapping[str, Any],
        input: InputSpec,
        classes: Sequence[str],
        dataset: str,
        metrics: Mapping[str, float],
        train_config: Mapping[str, Any] | None = None,
        macs: int | None = None,
    ) -> CheckpointMeta:
        """Metadata for ``model``: params and deploy-form MACs counted on it (``macs`` if already known),
        the versions of torch and slimconv, and the current time."""
        from .. import __version__

        return cls(
            model=model_name, op=op, policy=policy, options=dict(options), num_classes=len(classes), input=input,
            classes=tuple(classes), dataset=dataset, metrics=dict(metrics), params=count_params(model),
            macs=deployed_macs(model, input.input_size) if macs is None else macs,
            torch_version=str(torch.__version__), slimconv_version=__version__,
            date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            train_config=dict(train_config or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """A flat dict of plain values (``input_size`` included for readers)."""
        spec = self.input
        return {
            "model": self.model, "op": self.op, "policy": self.policy, "options": dict(self.options),
            "num_classes": self.num_classes, "in_chans": spec.in_chans, "input_size": list(spec.input_size),
            "resize": spec.resize, "crop": spec.crop, "pad": spec.pad, "mean": list(spec.mean), "std": list(spec.std),
            "classes": list(self.classes), "dataset": self.dataset, "metrics": dict(self.metrics),
            "params": self.params, "macs": self.macs, "torch_version": self.torch_version,
            "slimconv_version": self.slimconv_version, "date": self.date, "train_config": dict(self.train_config),
        }

    @classmethod
    def from_dict(cls, values: object, source: str) -> CheckpointMeta:
        """Validate stored metadata (untrusted): bounded first, then every key against the schema
        (:mod:`.meta_schema`); raises ``CheckpointError`` naming missing or malformed fields."""
        if not isinstance(values, Mapping):
            raise CheckpointError(f"{source} has no metadata dict (found {type(values).__name__}); "
                                  "save checkpoints with slimconv.save_checkpoint")
        try:
            check_bounded(values, "its metadata")
        except BoundExceeded as error:
            raise CheckpointError(f"{source} was refused: {error}. It was not written by slimconv.save_checkpoint "
                                  "or was edited; nothing in it was used") from None
        missing = [key for key in _REQUIRED if key not in values]
        if missing:
            raise CheckpointError(f"{source} misses metadata {', '.join(map(repr, missing))}; it was not written by "
                                  "slimconv.save_checkpoint or was edited: re-export it from its training run")
        try:
            checked = check_meta_values(values)
            spec = InputSpec.from_values(values["in_chans"], values["resize"], values["crop"], values["pad"],
                                         values["mean"], values["std"])
            return cls(input=spec, **checked)
        except (TypeError, ValueError) as error:
            raise CheckpointError(
                f"{source} has malformed metadata ({error}); re-export it from its training run"
            ) from None
