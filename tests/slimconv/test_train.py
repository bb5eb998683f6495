"""The trainer: smoke run, exact resume (in-process and after SIGKILL), NaN stop, resume checks."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from slimconv.errors import CheckpointError
from slimconv.pretrained import load_checkpoint, read_checkpoint
from slimconv.train import train
from slimconv.train.cli import main
from slimconv.train.idx import IdxImages
from slimconv.train.loop import HOLD_AFTER_STEP

from ._training_data import cli_arguments, make_fashion_folder, tiny_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fashion_folder(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def reference(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """An uninterrupted 2-epoch run: the result every resumed run must reproduce bit for bit."""
    return train(tiny_config(tmp_path_factory.mktemp("reference"), data_dir))


def _assert_same_state(path: Path, reference_path: Path) -> None:
    mine, theirs = read_checkpoint(path).state_dict, read_checkpoint(reference_path).state_dict
    assert mine.keys() == theirs.keys()
    different = [name for name in mine if not torch.equal(mine[name], theirs[name])]
    assert not different, f"tensors differ from the uninterrupted run: {different[:5]}"


def _without_times(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.endswith("_time_s")} for r in records]


def test_smoke_run_writes_a_checkpoint_that_loads_back_and_predicts(reference, data_dir: Path) -> None:
    out = reference.out
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert {"train_loss", "train_accuracy", "test_accuracy", "lr", "epoch_time_s"} <= lines[0].keys()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["test_accuracy"] == lines[-1]["test_accuracy"]

    loaded = load_checkpoint(out / "model.pt")
    assert loaded.meta.model == "resnet20" and loaded.meta.dataset == "fashion-mnist" and loaded.meta.op is None
    assert loaded.meta.input_size == (1, 16, 16) and loaded.meta.params == 272_186
    assert loaded.meta.metrics["epochs"] == 2 and not loaded.model.training
    assert loaded.meta.metrics["cpu_latency_ms"] > 0 and loaded.meta.metrics["cpu_latency_threads"] >= 1
    assert read_checkpoint(out / "model.pt").training is None  # the shipped file has no optimizer state
    # The recorded test accuracy is reproduced through the public loading and preprocessing path.
    test_set = IdxImages(data_dir / "fashion-mnist", "test")
    batch = torch.cat([loaded.preprocess(Image.fromarray(image.numpy())) for image in test_set.images])
    with torch.no_grad():
        predictions = loaded.model(batch).argmax(dim=1)
    accuracy = (predictions == test_set.targets).float().mean().item()
    assert accuracy == pytest.approx(loaded.meta.metrics["test_accuracy"])
    top = loaded.predict(Image.fromarray(test_set.images[0].numpy()), top_k=3)
    assert len(top) == 3 and top[0][0] in loaded.classes and top[0][1] >= top[1][1] >= top[2][1]


class _Interrupt(Exception):
    pass


def _stop_after_first_epoch(record: dict) -> None:
    if record["epoch"] == 1:
        raise _Interrupt


def test_resume_gives_bit_identical_weights(reference, data_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "run", data_dir)
    with pytest.raises(_Interrupt):
        train(config, on_epoch_end=_stop_after_first_epoch)
    assert read_checkpoint(tmp_path / "run" / "checkpoint.pt").training["epoch"] == 1
    assert not (tmp_path / "run" / "model.pt").exists()
    leftover = tmp_path / "run" / ".checkpoint.pt.killed.tmp"  # as a kill during a write leaves it
    leftover.write_bytes(b"partial")

    resumed = train(tiny_config(tmp_path / "run", data_dir, resume=True))
    assert not leftover.exists()
    _assert_same_state(resumed.model_path, reference.model_path)
    mine = read_checkpoint(tmp_path / "run" / "checkpoint.pt").training
    theirs = read_checkpoint(reference.out / "checkpoint.pt").training
    pairs = zip(mine["optimizer"]["state"].values(), theirs["optimizer"]["state"].values(), strict=True)
    assert all(torch.equal(a["momentum_buffer"], b["momentum_buffer"]) for a, b in pairs)
    assert mine["scheduler"] == theirs["scheduler"] and mine["global_step"] == theirs["global_step"] == 8
    assert _without_times(resumed.history) == _without_times(reference.history)


def test_resume_refuses_other_settings_and_fresh_run_refuses_to_overwrite(reference, data_dir: Path) -> None:
    with pytest.raises(ValueError, match="already holds a run"):
        train(tiny_config(reference.out, data_dir))
    with pytest.raises(CheckpointError, match=r"lr: saved 0\.05, now 0\.2"):
        train(tiny_config(reference.out, data_dir, resume=True, lr=0.2))


@pytest.mark.slow
def test_sigkill_during_training_then_resume_matches_the_uninterrupted_run(reference, data_dir: Path,
                                                                           tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "run", data_dir)
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    held = tmp_path / "held"
    # 4 steps an epoch: the run holds after step 6, in epoch 2, with epoch 1's checkpoint written.
    env = {**os.environ, HOLD_AFTER_STEP: f"6:{held}"}
    process = subprocess.Popen([sys.executable, "-m", "slimconv.train", *cli_arguments(config)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 120  # only against a hang: the kill waits for the hold, not a time
        while not held.exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the run did not reach step 6 within 120 s"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "run" / "model.pt").exists(), "the run finished before the kill"
    saved_epoch = read_checkpoint(checkpoint).training["epoch"]
    assert saved_epoch == 1

    assert main([*cli_arguments(config), "--resume"]) == 0
    _assert_same_state(tmp_path / "run" / "model.pt", reference.model_path)
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in log] == [1, 2]
    assert load_checkpoint(tmp_path / "run" / "model.pt").meta.metrics["epochs"] == 2


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import slimconv.train.run as run_module

    build = run_module._build_model
    steps_per_epoch = 64 // 16

    def poisoned_model(config, data):
        model = build(config, data)
        calls = {"train": 0}

        def nan_after_first_epoch(module, inputs, output):
            if module.training:
                calls["train"] += 1
                if calls["train"] > steps_per_epoch:
                    return output * float("nan")
            return output

        model.register_forward_hook(nan_after_first_epoch)
        return model

    monkeypatch.setattr(run_module, "_build_model", poisoned_model)
    config = tiny_config(tmp_path / "run", data_dir, epochs=3)
    assert main(cli_arguments(config)) == 1
    message = capsys.readouterr().err
    assert "the loss became nan at epoch 2" in message and "last good checkpoint" in message and "--lr" in message
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    assert read_checkpoint(checkpoint).training["epoch"] == 1
    assert load_checkpoint(checkpoint).meta.metrics["epochs"] == 1
    kept = read_checkpoint(checkpoint).state_dict.values()
    assert all(torch.isfinite(t).all() for t in kept if t.is_floating_point())
    assert not (tmp_path / "run" / "model.pt").exists()


def _state_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(read_checkpoint(path).state_dict.items()):
        value = tensor.contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_two_gloo_processes_train_and_agree(data_dir: Path, tmp_path: Path, free_port: int) -> None:
    config = tiny_config(tmp_path / "run", data_dir, epochs=1, batch_size=8)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port), "-m", "slimconv.train",
               *cli_arguments(config)]
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["world_size"] == 2
    hashes = summary["state_sha256"]
    assert len(hashes) == 2 and hashes[0] == hashes[1] == _state_sha256(tmp_path / "run" / "model.pt")
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(log) == 1 and 0.0 <= log[0]["test_accuracy"] <= 1.0
    training = read_checkpoint(tmp_path / "run" / "checkpoint.pt").training
    assert training["world_size"] == 2 and training["global_step"] == 64 // (2 * 8)  # each rank saw half the data
    assert load_checkpoint(tmp_path / "run" / "model.pt").meta.metrics["epochs"] == 1


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
