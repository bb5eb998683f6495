"""GPU out of memory: the computation runs again on a CPU copy of the model, with a warning. This machine may
have no GPU, so a model on the CPU stands in for one labelled "cuda" and the first run raises the error that
CUDA raises; the last test does it for real where a GPU is present."""

import dataclasses

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

import analysis
import slimconv
from lab.device_fallback import cpu_copy
from lab.models import LoadedModel
from tests.app.apptest_helpers import TIMEOUT_S, run_app
from tests.app.checkpoints import TEST_ZOO

OUT_OF_MEMORY = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.11 GiB total capacity)"


def _fallback_script(model, compute):
    import streamlit as st

    from lab.device_fallback import run_models

    st.session_state["result"] = run_models("the feature maps", compute, model)


def _on_cpu(path, key: str) -> LoadedModel:
    handle = slimconv.load_checkpoint(path)
    return LoadedModel(key=key, label=path.stem, model=handle.model.eval(), preprocess=handle.preprocess,
                       classes=handle.classes, input_size=handle.meta.input_size, device="cpu", meta=handle.meta)


def _first_run_out_of_memory(tried: list[str]):
    """Capture conv1's output, the first run (on the "GPU") failing like CUDA does."""
    def compute(loaded):
        tried.append(loaded.device)
        if len(tried) == 1:
            raise torch.OutOfMemoryError(OUT_OF_MEMORY)
        batch = torch.rand(2, *loaded.input_size, generator=torch.Generator().manual_seed(0))
        return loaded, analysis.capture_activations(loaded.model, batch.to(loaded.device), ["conv1"])

    return compute


def test_cpu_copy_is_equal_separate_and_on_the_cpu():
    model = slimconv.create_model("resnet20", in_chans=1).eval()
    copied = cpu_copy(model)
    assert copied is not model and not copied.training
    for (name, tensor), (_, original) in zip(copied.state_dict().items(), model.state_dict().items(), strict=True):
        assert tensor.device.type == "cpu" and torch.equal(tensor, original), name
        assert tensor.data_ptr() != original.data_ptr(), name


def test_gpu_out_of_memory_warns_and_reruns_on_a_cpu_copy(test_zoo, monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    gpu = dataclasses.replace(_on_cpu(test_zoo / f"{next(iter(TEST_ZOO))}.pt", "labelled cuda"), device="cuda")
    tried: list[str] = []
    app = AppTest.from_function(_fallback_script, args=(gpu, _first_run_out_of_memory(tried)),
                                default_timeout=TIMEOUT_S).run()
    assert not app.exception, [e.message for e in app.exception]
    assert [w.value for w in app.warning] == ["GPU ran out of memory for the feature maps; ran it on the CPU instead."]
    assert tried == ["cuda", "cpu"] and emptied == [True]
    ran_on, captured = app.session_state["result"]
    assert ran_on.device == "cpu" and ran_on.model is not gpu.model and ran_on.key != gpu.key
    assert captured.activations["conv1"].shape[:2] == (2, 16)
    assert analysis.attached_hook_count(gpu.model) == 0


def test_out_of_memory_on_the_cpu_is_an_error_message_not_a_fallback(zoo_env, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError(OUT_OF_MEMORY)

    monkeypatch.setattr(analysis, "capture_activations", out_of_memory)
    st.cache_data.clear()  # activations cached by an earlier test would hide the failure
    app = run_app()
    app.switch_page("app_pages/feature_maps.py").run()
    assert not app.exception and not app.warning
    assert any("out of memory" in error.value for error in app.error)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_real_gpu_model_falls_back_to_the_cpu_and_stays_on_the_gpu(test_zoo):
    gpu = _on_cpu(test_zoo / f"{next(iter(TEST_ZOO))}.pt", "on cuda")
    gpu = dataclasses.replace(gpu, model=gpu.model.to("cuda"), device="cuda")
    tried: list[str] = []
    app = AppTest.from_function(_fallback_script, args=(gpu, _first_run_out_of_memory(tried)),
                                default_timeout=TIMEOUT_S).run()
    assert not app.exception, [e.message for e in app.exception]
    assert tried == ["cuda", "cpu"] and len(app.warning) == 1
    ran_on, captured = app.session_state["result"]
    assert next(ran_on.model.parameters()).device.type == "cpu"
    assert next(gpu.model.parameters()).device.type == "cuda"
    on_gpu = analysis.capture_activations(gpu.model, torch.rand(2, *gpu.input_size, generator=torch.Generator()
                                                                .manual_seed(0)).cuda(), ["conv1"])
    torch.testing.assert_close(captured.activations["conv1"], on_gpu.activations["conv1"], atol=1e-4, rtol=1e-4)
