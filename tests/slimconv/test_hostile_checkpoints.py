"""Hostile files against every loader: each is refused with a clear message, fast, without a blow-up.

The cases themselves (and what ``docs/bad-inputs.md`` says of them) are in ``tests/bad_inputs/``.
"""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as save_safetensors

import slimconv
from slimconv import weight_files
from slimconv.errors import CheckpointError, WeightsUnavailableError
from slimconv.pretrained import CheckpointMeta
from slimconv.pretrained.bounded import BoundExceeded, check_bounded
from slimconv.pretrained.files import checkpoint_bytes
from slimconv.weight_files import read_state_dict, read_state_dict_bytes
from tests.bad_inputs.checkpoints import FASHION, checkpoint_outcome, rewritten, valid_checkpoint
from tests.bad_inputs.hostile_checkpoints import HOSTILE_CHECKPOINT_CASES, TRICKY_CLASSES, laughs, zip_bomb

REPO = Path(__file__).resolve().parents[2]
CASES = {case.file_name: case for case in HOSTILE_CHECKPOINT_CASES}


@pytest.mark.parametrize("case", [c for c in HOSTILE_CHECKPOINT_CASES if c.file_name != "nested.pt"],
                         ids=lambda case: case.id)
def test_hostile_case(case) -> None:
    started = time.perf_counter()
    outcome = checkpoint_outcome(case)
    assert re.search(case.expect, outcome), outcome
    assert time.perf_counter() - started < 10, "a hostile file must be refused quickly"


@pytest.mark.slow
def test_metrics_nested_100000_deep_are_refused_without_recursion_error() -> None:
    outcome = checkpoint_outcome(CASES["nested.pt"])
    assert re.search(CASES["nested.pt"].expect, outcome), outcome


def test_the_message_does_not_tell_whether_a_named_path_exists(tmp_path: Path) -> None:
    existing = tmp_path / "secret.pth"
    existing.write_bytes(b"x")
    messages = []
    for path in (existing, tmp_path / "absent.pth"):
        data = rewritten(lambda p, path=path: p["meta"].update(op="spconv", policy="except-stem",
                                                                 options={"weights": str(path)}))()
        with pytest.raises(CheckpointError) as raised:
            slimconv.load_checkpoint(data)
        messages.append(str(raised.value).replace(str(path), "PATH"))
    assert messages[0] == messages[1]
    assert "exist" not in messages[0]


def test_the_billion_laughs_walk_stops_at_its_node_bound_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(BoundExceeded, match="more than 20,000 values"):
        check_bounded(laughs(levels=7, width=10), "metadata")  # 10^7 nodes as a tree, 7 levels
    assert time.perf_counter() - started < 0.5


def test_saving_metadata_with_shared_references_is_refused_not_serialised() -> None:
    model = slimconv.create_model("resnet20", in_chans=1)
    started = time.perf_counter()
    with pytest.raises(ValueError, match="more than 20,000 values"):
        CheckpointMeta.for_model(model, model_name="resnet20", op=None, policy=None, options={}, input=FASHION,
                                 classes=[str(i) for i in range(10)], dataset="d", metrics={"a": 1.0}, macs=1,
                                 train_config={"notes": laughs()})
    assert time.perf_counter() - started < 2


def test_metrics_may_hold_extra_finite_entries() -> None:
    """Other readers add flat float entries (e.g. out-of-distribution statistics ``ood_*``): they pass."""
    extra = {f"ood_feature_mean_{i}": float(i) / 7 for i in range(200)}
    data = rewritten(lambda p: p["meta"]["metrics"].update(extra))()
    assert slimconv.load_checkpoint(data).meta.metrics["ood_feature_mean_3"] == pytest.approx(3 / 7)


def test_names_with_markdown_and_mathtext_load_as_they_are() -> None:
    loaded = slimconv.load_checkpoint(CASES["$x^2$ [a](b) **c**.pt"].upload())
    assert list(loaded.classes) == TRICKY_CLASSES and loaded.source == "$x^2$ [a](b) **c**.pt"


@pytest.mark.parametrize("mode", ["r", "rt"])
def test_a_stream_opened_in_text_mode_says_to_open_it_in_binary_mode(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(valid_checkpoint())
    with open(path, mode) as stream, pytest.raises(ValueError, match=r"binary mode \(open\(path, 'rb'\)\)"):
        slimconv.load_checkpoint(stream)
    with pytest.raises(ValueError, match="binary mode"):
        slimconv.read_checkpoint(io.StringIO("text"))


def test_operator_checkpoint_without_a_meta_kernel_loads_and_is_bounded_by_the_dense_model() -> None:
    """HetConv's weight inheritance cannot run on the meta device: its files are bounded by the dense size."""
    torch.manual_seed(0)
    model = slimconv.create_model("resnet20", op="hetconv", in_chans=1)
    meta = CheckpointMeta.for_model(model, model_name="resnet20", op="hetconv", policy="except-stem", options={},
                                    input=FASHION, classes=[str(i) for i in range(10)], dataset="d",
                                    metrics={"test_accuracy": 0.5}, macs=1)
    data = checkpoint_bytes(model.state_dict(), meta)
    assert slimconv.load_checkpoint(data).meta.op == "hetconv"
    huge = checkpoint_bytes(model.state_dict(), dataclasses.replace(meta, model="vgg19"))
    with pytest.raises(CheckpointError, match=r"far fewer than 'vgg19' needs"):
        slimconv.load_checkpoint(huge)


def test_declared_sizes_over_the_cap_are_refused_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weight_files, "MAX_FILE_BYTES", 200_000)
    data = valid_checkpoint()
    with pytest.raises(CheckpointError, match=r"over the limit of 200,000 bytes; it was not read"):
        slimconv.load_checkpoint(data)
    bomb = zip_bomb()
    monkeypatch.setattr(weight_files, "MAX_FILE_BYTES", len(bomb) + 10)  # the file fits, what it unpacks not
    with pytest.raises(CheckpointError, match=r"declares [\d,]+ bytes once unpacked, over the limit"):
        slimconv.load_checkpoint(bomb)
    big = save_safetensors({"w": torch.zeros(1_000_000)})
    with pytest.raises(WeightsUnavailableError, match="over the limit"):
        read_state_dict_bytes(big, "big.safetensors")


def _weights(data_builder) -> bytes:
    payload = torch.load(io.BytesIO(data_builder()), weights_only=True)
    buffer = io.BytesIO()
    torch.save(payload["state_dict"], buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "build", "expected"), [
    ("bomb.pth", zip_bomb, r"a zip bomb\?"),
    ("nan.pth", lambda: _weights(CASES["nan.pt"].build), r"NaN or infinite weights in 1 tensor\(s\) \(fc\.weight\)"),
    ("stride.pth", lambda: _weights(CASES["stride.pt"].build), r"a stride trick"),
    ("legacy.pth", CASES["legacy.pt"].build, r"not a zip-format torch file"),
    ("hostile.pth", lambda: __import__("pickle").dumps(print, protocol=2), r"Python objects that a safe load refuses"),
    ("nan.safetensors", lambda: save_safetensors({"w": torch.tensor([1.0, float("inf")])}), r"NaN or infinite"),
])
def test_weight_files_are_checked_like_checkpoints(tmp_path: Path, name: str, build, expected: str) -> None:
    data = build()
    with pytest.raises(WeightsUnavailableError, match=expected):
        read_state_dict_bytes(data, name)
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(WeightsUnavailableError, match=expected):
        read_state_dict(path)
    with pytest.raises(WeightsUnavailableError, match=expected):
        slimconv.create_model("resnet20", in_chans=1, weights=path)


_MEMORY_PROBE = textwrap.dedent("""
    import resource, sys
    sys.path.insert(0, {repo!r})
    import slimconv
    from slimconv.errors import CheckpointError
    from tests.bad_inputs.hostile_checkpoints import HOSTILE_CHECKPOINT_CASES
    cases = {{case.file_name: case for case in HOSTILE_CHECKPOINT_CASES}}
    files = {{name: cases[name].build() for name in ("vit_h_14.pt", "bomb.pt", "input-2500.pt", "laughs.pt")}}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, data in files.items():
        try:
            slimconv.load_checkpoint(data)
        except CheckpointError:
            pass
        else:
            raise SystemExit(name + " loaded")
    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
""")


@pytest.mark.slow
def test_refusing_the_costly_files_takes_little_memory() -> None:
    """vit_h_14 named by a 1 MB file (+2.3 GB before), a zip bomb, input 2500x2500, billion laughs: the peak
    resident memory of a fresh process grows by less than 200 MiB over refusing all four."""
    probe = subprocess.run([sys.executable, "-c", _MEMORY_PROBE.format(repo=str(REPO))], capture_output=True,
                           text=True, timeout=300, cwd=REPO)
    assert probe.returncode == 0, probe.stderr[-2000:]
    grown_mib = int(probe.stdout.strip().splitlines()[-1])
    assert grown_mib < 200, f"refusing them took {grown_mib} MiB"
