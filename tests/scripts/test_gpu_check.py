"""scripts/gpu_check.sh end to end on CPU (--device cpu --quick), so that the one GPU run cannot fail on a
typo: every step passes and leaves its records and the page's table under $OUT."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu_check.sh"


@pytest.mark.slow
def test_gpu_check_runs_every_step_on_cpu(tmp_path):
    done = subprocess.run(["bash", str(SCRIPT), "--device", "cpu", "--quick"], env=os.environ | {"OUT": str(tmp_path)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("device", "tests", "targets-float32", "targets-bfloat16", "page", "summary"):
        assert f"ok      {step}" in done.stdout
    records = sorted(p.name for p in (tmp_path / "records").glob("*.json"))
    assert len(records) == 2 and records[0].startswith("targets-quick-cpu-bfloat16")
    assert records[1].startswith("targets-quick-cpu-float32")
    assert (tmp_path / "records" / "README.md").read_text().count("Targets") >= 2
    assert "spconv deploy" in (tmp_path / "page-cpu.csv").read_text()
