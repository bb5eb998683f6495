"""Trainer options: configuration checks, the command line, the schedule, the operators' regularisers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from slimconv.models import create_model
from slimconv.ops.linearconv import SPARSITY_UPDATE_EVERY
from slimconv.pretrained import load_checkpoint
from slimconv.train import TrainConfig, train
from slimconv.train.cli import build_parser, config_from_args, main
from slimconv.train.optim import LearningRateFactor, build_optimizer
from slimconv.train.regularizers import OperatorLosses

from ._training_data import cli_arguments, make_fashion_folder, tiny_config


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fashion_folder(tmp_path_factory.mktemp("data"), train=32, test=16)


def test_command_line_becomes_the_config() -> None:
    args = build_parser().parse_args(["--op", "linearconv:variant=lowrank,rank=2", "--policy", "all", "--optimizer",
                                      "adamw", "--schedule", "step", "--milestones", "6", "3", "--subset", "100"])
    config = config_from_args(args)
    assert config.op == "linearconv" and config.options == {"variant": "lowrank", "rank": 2}
    assert config.policy == "all" and config.subset == 100 and config.milestones == (3, 6)
    assert config.lr == 1e-3 and config.weight_decay == 0.05  # the optimizer's defaults
    assert config_from_args(build_parser().parse_args([])).lr == 0.1


@pytest.mark.parametrize(("changes", "message"), [
    ({"dataset": "imagenet"}, "dataset must be one of"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"subset": 0}, "subset must be >= 1"),
    ({"label_smoothing": 1.0}, "label_smoothing must be in"),
    ({"options": {"alpha": 0.5}}, "need an operator"),
    ({"lr": -1.0}, "lr must be > 0"),
])
def test_bad_settings_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_cli_reports_bad_combinations_with_exit_status_2(data_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    arguments = cli_arguments(tiny_config(tmp_path / "run", data_dir))
    assert main([*arguments, "--flgc-balance", "0.1"]) == 2
    assert "flgc_balance needs a model with FLGC layers" in capsys.readouterr().err
    assert main([*arguments, "--batch-size", "64"]) == 2
    assert "do not fill one batch" in capsys.readouterr().err


def test_schedule_warms_up_then_decays() -> None:
    cosine = LearningRateFactor("cosine", total_steps=110, warmup_steps=10, milestones=(), gamma=0.1)
    assert [cosine(s) for s in (0, 4, 9)] == [0.1, 0.5, 1.0]
    assert cosine(10) == 1.0 and math.isclose(cosine(60), 0.5) and math.isclose(cosine(110), 0.0, abs_tol=1e-12)
    step = LearningRateFactor("step", total_steps=100, warmup_steps=0, milestones=(50, 75), gamma=0.1)
    assert [step(s) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_weight_decay_skips_biases_and_norms() -> None:
    model = create_model("resnet20")
    decay, no_decay = build_optimizer(model, TrainConfig()).param_groups
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_linearconv_correlation_every_tenth_step_and_sparse_masks() -> None:
    model = create_model("resnet20", op="linearconv", variant="sparse")
    losses = OperatorLosses(model, TrainConfig(op="linearconv", linearconv_l1=0.0))
    assert losses.describe() == ["0.01 x LinearConv correlation every 10 steps",
                                 f"0.0 x LinearConv L1, masks updated every {SPARSITY_UPDATE_EVERY} steps"]
    assert losses(model, 0).item() > 0 and losses(model, 20).item() > 0
    assert losses(model, 1) is None and losses(model, 19) is None
    layer = model.conv1
    layer.coefficient_matrix.data.normal_()
    before = layer.mask.clone()
    losses.after_step(model, SPARSITY_UPDATE_EVERY - 2)
    assert torch.equal(layer.mask, before)
    losses.after_step(model, SPARSITY_UPDATE_EVERY - 1)
    assert not torch.equal(layer.mask, before)


def test_pedconv_infomax_and_flgc_balance_are_added() -> None:
    ped = create_model("resnet20", op="pedconv", infomax=True)
    ped_losses = OperatorLosses(ped, TrainConfig(op="pedconv"))
    assert ped_losses.describe() == ["0.001 x PEDConv info-max"]
    ped.train()(torch.randn(2, 3, 8, 8))
    assert ped_losses(ped, 1).item() > 0
    assert OperatorLosses(create_model("resnet20", op="pedconv"), TrainConfig(op="pedconv")).describe() == []
    flgc = create_model("resnet20", op="flgc", policy="3x3", groups=4)
    flgc_losses = OperatorLosses(flgc, TrainConfig(op="flgc", flgc_balance=0.5))
    assert flgc_losses.describe() == ["0.5 x FLGC balance"] and flgc_losses(flgc, 3).item() > 0


@pytest.mark.slow
@pytest.mark.parametrize("op", ["linearconv:variant=lowrank,rank=2", "pedconv:infomax=True", "spconv:alpha=0.5"])
def test_operator_models_train_and_load_back(op: str, data_dir: Path, tmp_path: Path) -> None:
    arguments = cli_arguments(tiny_config(tmp_path / "run", data_dir, epochs=1))
    assert main([*arguments, "--op", op]) == 0
    loaded = load_checkpoint(tmp_path / "run" / "model.pt")
    assert loaded.meta.op == op.split(":")[0] and loaded.meta.policy is not None
    assert loaded.meta.train_config["options"] == config_from_args(build_parser().parse_args(["--op", op])).options
    assert torch.isfinite(loaded.model(torch.randn(1, 1, 16, 16))).all()


@pytest.mark.slow
@pytest.mark.parametrize("op", ["pedconv", "spconv:alpha=0.5"])
def test_cpu_amp_trains_in_bfloat16(op: str, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[torch.dtype] = set()
    original = torch.nn.functional.cross_entropy

    def spy(logits: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        seen.add(logits.dtype)
        return original(logits, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", spy)
    arguments = cli_arguments(tiny_config(tmp_path / "run", data_dir, epochs=1))
    assert main([*arguments, "--op", op, "--amp"]) == 0
    assert torch.bfloat16 in seen  # the logits came out of autocast
    loaded = load_checkpoint(tmp_path / "run" / "model.pt")
    assert loaded.meta.train_config["amp"] is True
    assert next(loaded.model.parameters()).dtype == torch.float32  # master weights stay float32
    assert torch.isfinite(loaded.model(torch.randn(1, 1, 16, 16))).all()


@pytest.mark.slow
def test_flgc_with_balance_trains(data_dir: Path, tmp_path: Path) -> None:
    result = train(tiny_config(tmp_path / "run", data_dir, epochs=1, op="flgc", policy="3x3", options={"groups": 4},
                               flgc_balance=0.1, safetensors=True))
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert load_checkpoint(tmp_path / "run" / "model.safetensors").meta.options == {"groups": 4}
    assert result.metrics["epochs"] == 1
