"""On a CUDA device: every operator's deploy form computes its training form's function, and the benchmark
engine times a comparison with CUDA events and gives its verdict. Skipped (and said so) without a GPU; the
GPU check (scripts/gpu_check.sh) runs these on a lent accelerator."""

import math

import pytest
import torch

import slimconv
from slimconv.bench import BenchSetup, layer_comparison, run_comparison

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)"),
]


@pytest.fixture
def full_float32():
    """No TF32 (on by default for cuDNN convolutions): the comparison is of the forms, not of the precision."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("op", slimconv.list_ops())
def test_deploy_form_matches_on_cuda(op, full_float32):
    torch.manual_seed(0)
    layer = slimconv.create_conv(op, 16, 16, 3).cuda().eval()
    x = torch.randn(4, 16, 15, 15, device="cuda")
    with torch.no_grad():
        expected, deployed = layer(x), slimconv.deploy_form(layer)(x)
    assert deployed.device.type == "cuda" and deployed.shape == expected.shape
    assert torch.allclose(deployed, expected, atol=1e-4, rtol=1e-4), (deployed - expected).abs().max()


def test_engine_times_a_cuda_comparison_with_a_verdict():
    comparison = layer_comparison([("spconv", {}), ("flgc", {"groups": 4})], in_channels=32, out_channels=32,
                                  size=16, batch_size=8)
    rows = run_comparison(comparison, BenchSetup(device="cuda", budget_s=3.0, block_time_s=0.01))
    assert all(row.error is None and row.median_ms > 0 and math.isfinite(row.ratio) for row in rows)
    assert all(row.ratio_low <= row.ratio <= row.ratio_high and row.verdict for row in rows)
    assert all(row.peak_memory_bytes for row in rows)  # CUDA keeps a peak statistic
