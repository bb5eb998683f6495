"""Training faults: a bad --out fails in a second with one line (no traceback, nothing trained), stale
temporaries are removed at start and resume, and a resume with other settings is refused or stated."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slimconv.train import out_folder as out_module
from slimconv.train import train
from slimconv.train.cli import main

from ._training_data import cli_arguments, make_fashion_folder, tiny_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fashion_folder(tmp_path_factory.mktemp("data"))


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch):
    """Fails the test if a run gets as far as loading its data (the --out check must come first)."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the run started working before --out was checked")
    monkeypatch.setattr("slimconv.train.run.load_data", forbidden)


def _run_cli(arguments: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slimconv.train", *arguments], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def _one_line_refusal(capsys: pytest.CaptureFixture, code: int, *expected: str) -> str:
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error, error
    for text in expected:
        assert text in error, error
    return error


def test_out_that_is_a_file_is_refused_before_any_work(data_dir: Path, tmp_path: Path, no_training,
                                                       capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    out.write_text("not a folder")
    code = main(cli_arguments(tiny_config(out, data_dir)))
    _one_line_refusal(capsys, code, "is a file, not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_refused_before_any_work(data_dir: Path, tmp_path: Path, no_training,
                                                  capsys: pytest.CaptureFixture) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        code = main(cli_arguments(tiny_config(parent / "run", data_dir)))
    finally:
        parent.chmod(0o755)
    _one_line_refusal(capsys, code, "cannot be created")


def test_unwritable_out_is_refused_before_any_work(data_dir: Path, tmp_path: Path, no_training,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture) -> None:
    """A read-only file system (EROFS), simulated where the tests run as root, who may write anywhere."""
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")
    monkeypatch.setattr(out_module.tempfile, "mkstemp", read_only)
    code = main(cli_arguments(tiny_config(tmp_path / "run", data_dir)))
    _one_line_refusal(capsys, code, "is not writable (Read-only file system)")


def test_out_without_space_is_refused_before_any_work(data_dir: Path, tmp_path: Path, no_training,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(out_module.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 4096))
    code = main(cli_arguments(tiny_config(tmp_path / "run", data_dir)))
    _one_line_refusal(capsys, code, "MiB free", "choose another --out")


def test_disk_full_while_probing_is_one_line(data_dir: Path, tmp_path: Path, no_training,
                                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    real_fdopen = out_module.os.fdopen

    class Full:
        def __init__(self, handle, mode):
            self.file = real_fdopen(handle, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(out_module.os, "fdopen", Full)
    code = main(cli_arguments(tiny_config(tmp_path / "run", data_dir)))
    _one_line_refusal(capsys, code, "No space left on device")
    assert not list((tmp_path / "run").glob(".*.tmp")), "the probe file was left behind"


@pytest.mark.slow
def test_a_write_failing_mid_run_is_one_line(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "run" / "checkpoint.pt"))
    monkeypatch.setattr("slimconv.train.run.save_checkpoint", disk_full)
    code = main(cli_arguments(tiny_config(tmp_path / "run", data_dir, epochs=1)))
    _one_line_refusal(capsys, code, "No space left on device", "checkpoint.pt")


@pytest.mark.slow
def test_cli_in_a_subprocess_prints_one_line_for_a_file_out(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.write_text("x")
    finished = _run_cli(["--epochs", "1", "--no-download", "--data-dir", str(tmp_path), "--out", str(out)])
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == [f"slimconv-train: --out {out} is a file, not a folder; "
                                                    "choose another --out"]


@pytest.mark.slow
def test_stale_temporaries_are_removed_at_start_and_at_resume(data_dir: Path, tmp_path: Path) -> None:
    """A kill during the first checkpoint's write leaves ``.checkpoint.pt.*.tmp``: the next start removes it."""
    out = tmp_path / "run"
    out.mkdir()
    leftover = out / ".checkpoint.pt.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    stopped: list[int] = []

    def stop(record: dict) -> None:
        stopped.append(record["epoch"])
        raise KeyboardInterrupt  # as a kill would, after the first checkpoint

    config = tiny_config(out, data_dir, epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train(config, on_epoch_end=stop)
    assert not leftover.exists() and stopped == [1]
    second = out / ".checkpoint.pt.def456.tmp"
    second.write_bytes(b"half again")
    result = train(tiny_config(out, data_dir, epochs=2, resume=True))
    assert not second.exists() and not list(out.glob(".*.tmp"))
    assert result.metrics["epochs"] == 2


@pytest.mark.slow
def test_resume_with_other_settings_is_refused_and_longer_epochs_stated(data_dir: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    config = tiny_config(out, data_dir, epochs=1)
    assert main(cli_arguments(config)) == 0
    capsys.readouterr()
    changed = [*cli_arguments(config), "--resume", "--lr", "0.2"]
    error = _one_line_refusal(capsys, main(changed), "--resume with other settings", "lr: saved 0.05, now 0.2")
    assert "repeat the original command" in error
    longer = [*cli_arguments(tiny_config(out, data_dir, epochs=2)), "--resume"]
    assert main(longer) == 0
    assert "--epochs 2 (the saved run had 1): the learning-rate schedule is recomputed" in capsys.readouterr().out
