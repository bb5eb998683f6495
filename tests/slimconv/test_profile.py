"""Counting and timing: params, MACs, the per-layer profile and measure_latency."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import slimconv


def test_count_macs_of_a_conv_and_a_linear():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 5 * 5, 10))
    assert slimconv.count_macs(model, (3, 5, 5)) == 3 * 8 * 9 * 25 + 200 * 10
    assert slimconv.count_macs(model, (4, 3, 5, 5)) == 4 * (3 * 8 * 9 * 25 + 200 * 10)


def test_count_macs_restores_training_mode_and_rejects_bad_sizes():
    model = slimconv.create_model("resnet20").train()
    slimconv.count_macs(model, (3, 32, 32))
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="input_size"):
        slimconv.count_macs(model, (32, 32))


def test_count_params_excludes_buffers_and_training_only():
    layer = slimconv.create_conv("flgc", 16, 16, 1, groups=4)
    dense = 16 * 16
    assert slimconv.count_params(layer) == dense
    assert slimconv.count_training_only_params(layer) == 16 * 4 + 16 * 4


def test_profile_rows_add_up_to_the_totals():
    model = slimconv.create_model("mobilenetv2_cifar", op="flgc")
    result = slimconv.profile(model, (3, 32, 32))
    for table in (result.training, result.deploy):
        assert sum(r.params for r in table.layers) == table.params
        assert sum(r.macs for r in table.layers) == table.macs
        assert sum(r.training_only_params for r in table.layers) == table.training_only_params
    assert result.training.params == slimconv.count_params(model)
    assert result.training.macs == slimconv.count_macs(model, (3, 32, 32))
    assert result.deploy.macs < result.training.macs  # the learned groups really run as groups
    assert result.deploy.training_only_params == 0
    fc = next(r for r in result.training.layers if r.name == "fc")
    assert fc.output_shape == (1, 10) and fc.macs == 1280 * 10
    assert "total" in str(result) and result.training.rows()[0]["output_shape"] == "1x32x32x32"


def test_measure_latency_reports_a_setup_and_restores_threads():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))
    threads = torch.get_num_threads()
    result = slimconv.measure_latency(
        model, (3, 16, 16), batch_size=2, threads=1, min_run_time_s=0.05, channels_last=True
    )
    assert torch.get_num_threads() == threads
    assert result.median_ms > 0 and result.iqr_ms >= 0 and result.runs >= 1
    assert (result.batch_size, result.threads, result.dtype, result.device) == (2, 1, "float32", "cpu")
    assert result.peak_memory_bytes is None and result.device_name
    assert next(model.parameters()).is_contiguous()  # the caller's model was not converted


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message; this machine has a GPU")
def test_measure_latency_on_missing_cuda_says_so():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        slimconv.measure_latency(nn.Conv2d(3, 3, 1), (3, 4, 4), device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
def test_measure_latency_on_cuda_records_peak_memory():
    result = slimconv.measure_latency(nn.Conv2d(3, 8, 3), (3, 64, 64), device="cuda", batch_size=4, min_run_time_s=0.05)
    assert result.peak_memory_bytes and result.peak_memory_bytes > 4 * 8 * 62 * 62 * 4


class _WorkInTheContainer(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(4, 4))
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        y = self.conv(x).flatten(2).transpose(1, 2)
        return y @ self.scale  # a matmul issued by the container itself


def test_work_done_outside_any_layer_has_its_own_row():
    table = slimconv.profile(_WorkInTheContainer(), (3, 2, 2)).training
    other = next(r for r in table.layers if r.name == "(other)")
    assert other.params == 16 and other.macs == 4 * 4 * 4
    assert sum(r.macs for r in table.layers) == table.macs
