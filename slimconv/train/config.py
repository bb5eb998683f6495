"""Everything a training run depends on, in one frozen dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..ops.pedconv import INFOMAX_LOSS_WEIGHT
from .datasets import DATASETS

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step")
_DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3}
_DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adam": 0.0, "adamw": 0.05}
#: Fields that may differ when a run is resumed: where and how it runs, not what it computes.
#: ``epochs`` may be raised to train longer (the schedule is then recomputed for the new total).
RUNTIME_FIELDS = frozenset({"out", "resume", "epochs", "data_dir", "download", "device", "amp", "channels_last",
                            "workers", "threads", "progress", "safetensors"})


@dataclass(frozen=True)
class TrainConfig:
    """A training run. ``lr``/``weight_decay`` default per optimizer (SGD 0.1/5e-4, Adam 1e-3/0, AdamW
    1e-3/0.05); ``milestones`` (epochs, step schedule) default to 50% and 75% of ``epochs``;
    ``device``/``amp``/``channels_last``/``workers`` default to what the machine has (CUDA: AMP,
    channels_last, 4 workers; CPU: none of them)."""

    model: str = "resnet20"
    op: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    policy: str | None = None
    dataset: str = "fashion-mnist"
    data_dir: str = "data"
    download: bool = True
    image_size: int = 32
    in_chans: int | None = None
    subset: int | None = None
    epochs: int = 100
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float | None = None
    schedule: str = "cosine"
    milestones: tuple[int, ...] | None = None
    gamma: float = 0.1
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    linearconv_corr_weight: float = 0.01
    linearconv_corr_every: int = 10
    linearconv_l1: float = 1e-4
    flgc_balance: float = 0.0
    pedconv_infomax_weight: float = INFOMAX_LOSS_WEIGHT
    seed: int = 0
    out: str = "runs/run"
    resume: bool = False
    device: str | None = None
    amp: bool | None = None
    channels_last: bool | None = None
    workers: int | None = None
    threads: int | None = None
    progress: bool = True
    safetensors: bool = False

    def __post_init__(self) -> None:
        def choose(name: str, value: object, choices: tuple[str, ...]) -> None:
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")

        choose("dataset", self.dataset, DATASETS)
        choose("optimizer", self.optimizer, OPTIMIZERS)
        choose("schedule", self.schedule, SCHEDULES)
        for name in ("epochs", "batch_size", "image_size", "linearconv_corr_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("subset", "threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 when given, got {getattr(self, name)}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        for name in ("warmup_epochs", "momentum", "linearconv_corr_weight", "linearconv_l1", "flgc_balance",
                     "pedconv_infomax_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.op is None and (self.options or self.policy is not None):
            raise ValueError("operator options and policy need an operator (--op)")
        # Resolved defaults are stored, so that checkpoints record the values really used (frozen: setattr).
        if self.lr is None:
            object.__setattr__(self, "lr", _DEFAULT_LR[self.optimizer])
        if self.weight_decay is None:
            object.__setattr__(self, "weight_decay", _DEFAULT_WEIGHT_DECAY[self.optimizer])
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")
        if self.milestones is not None:
            object.__setattr__(self, "milestones", tuple(sorted(int(m) for m in self.milestones)))

    def step_milestones(self) -> tuple[int, ...]:
        """Epochs after which the step schedule multiplies the learning rate by ``gamma``."""
        return self.milestones if self.milestones is not None else (self.epochs // 2, self.epochs * 3 // 4)

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (tuples as lists): stored in checkpoints and compared on resume."""
        values = dataclasses.asdict(self)
        values["milestones"] = None if self.milestones is None else list(self.milestones)
        return values

    def differences(self, saved: dict[str, Any]) -> list[str]:
        """Fields (outside ``RUNTIME_FIELDS``) whose value differs from the ``saved`` ``to_dict()``."""
        mine = self.to_dict()
        return [f"{name}: saved {saved.get(name)!r}, now {value!r}" for name, value in mine.items()
                if name not in RUNTIME_FIELDS and saved.get(name) != value]
