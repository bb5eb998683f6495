"""Every operator form of the registry works with PyTorch's graph tools, with the eager output.

torch.fx.symbolic_trace, torch.jit.trace and torch.export on the training and the deploy form of
every registered operator (so a new operator gets these tests for free); ONNX (dynamo exporter, run
in onnxruntime) on every deploy form and on converted ResNet-18s; torchvision's
create_feature_extractor on ResNet-18 converted to every operator.
"""

from __future__ import annotations

import contextlib
import copy
import io
import warnings

import pytest
import torch
from torch import nn

import slimconv
from slimconv.ops import create_conv, list_ops

from ._helpers import perturb

OPS = list_ops()
FORMS = ("training", "deploy")
# (stride, bias, input): stride 2 on an odd map covers the ceil-mode pooling of the multi-branch forms
GEOMETRIES = {"s1-bias": (1, True, (2, 16, 8, 8)), "s2-odd": (2, False, (2, 16, 9, 7))}
TOLERANCE = dict(rtol=1e-5, atol=1e-5)


def layer_form(op: str, form: str, stride: int, bias: bool) -> nn.Module:
    """A perturbed 16 -> 16 3x3 layer of ``op`` (BN statistics moved too), in eval mode."""
    layer = perturb(create_conv(op, 16, 16, 3, stride, bias=bias)).eval()
    return layer if form == "training" else layer.fuse().eval()


def run_onnx(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` exported with the dynamo exporter and run in onnxruntime."""
    install = "pip install -r requirements-dev.txt"
    ort = pytest.importorskip("onnxruntime", reason=f"onnxruntime is not installed ({install})")
    pytest.importorskip("onnxscript", reason=f"onnxscript is not installed ({install})")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module, (x,), dynamo=True, verbose=False)
    session = ort.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return torch.from_numpy(output)


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("op", OPS)
def test_fx_jit_and_export_give_the_eager_output(op, form, geometry):
    stride, bias, shape = GEOMETRIES[geometry]
    module = layer_form(op, form, stride, bias)
    x = torch.randn(shape)
    with torch.no_grad():
        expected = module(x)
        traced = torch.fx.symbolic_trace(module)
        torch.testing.assert_close(traced(x), expected, **TOLERANCE)
        # the fx graph is shape-agnostic: another batch and map size run through the same graph
        other = torch.randn(3, 16, 11, 10)
        torch.testing.assert_close(traced(other), module(other), **TOLERANCE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # jit.trace is deprecated upstream; it still has users
            scripted = torch.jit.trace(module, x)
        torch.testing.assert_close(scripted(x), expected, **TOLERANCE)
        exported = torch.export.export(module, (x,))
        torch.testing.assert_close(exported.module()(x), expected, **TOLERANCE)


@pytest.mark.parametrize("op", OPS)
def test_fx_graph_of_the_training_form_trains_like_the_layer(op):
    """In training mode (BN batch statistics, PEDConv's sampled logits) the fx graph computes what
    the layer does, gradients included."""
    layer = perturb(create_conv(op, 16, 16, 3, 2, bias=True)).train()
    graph = torch.fx.symbolic_trace(copy.deepcopy(layer))
    x = torch.randn(2, 16, 9, 7)
    outputs, grads = [], []
    for module in (layer, graph):
        torch.manual_seed(3)
        y = module(x)
        y.square().mean().backward()
        outputs.append(y.detach())
        grads.append({name: p.grad for name, p in module.named_parameters() if p.grad is not None})
    torch.testing.assert_close(outputs[1], outputs[0], **TOLERANCE)
    assert grads[1].keys() == grads[0].keys() and grads[0]  # a graph module orders its parameters by first use
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("form", ["groupwise", "padded", "dense"])
@pytest.mark.parametrize("kernel_size", [1, 3])
def test_every_flgc_deploy_execution_captures(kernel_size, form):
    """FLGC has three deploy executions (fuse(form)); the 1x1 groupwise one has its own fast path."""
    layer = create_conv("flgc", 16, 24, kernel_size, 2, padding=kernel_size // 2, bias=True, groups=4)
    with torch.no_grad():
        layer.channel_logits[:, 3] = -100.0
        layer.filter_logits[:5, 3] = 100.0  # group 3 has filters but no channel: dead filters
    module = layer.fuse(form).eval()
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        expected = module(x)
        torch.testing.assert_close(torch.fx.symbolic_trace(module)(x), expected, **TOLERANCE)
        torch.testing.assert_close(torch.export.export(module, (x,)).module()(x), expected, **TOLERANCE)
        torch.testing.assert_close(run_onnx(module, x), expected, **TOLERANCE)


@pytest.mark.slow
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("op", OPS)
def test_every_deploy_form_runs_in_onnxruntime_with_the_eager_output(op, geometry):
    stride, bias, shape = GEOMETRIES[geometry]
    module = layer_form(op, "deploy", stride, bias)
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(run_onnx(module, x), module(x), **TOLERANCE)


def _converted_resnet18(op: str) -> nn.Module:
    from torchvision.models import resnet18

    return perturb(slimconv.convert(resnet18(num_classes=10), op), scale=0.01).eval()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:The nodes obtained by tracing the model in train mode")  # PEDConv's noise
@pytest.mark.parametrize("op", OPS)
def test_create_feature_extractor_works_on_resnet18_converted_to_every_operator(op):
    from torchvision.models.feature_extraction import create_feature_extractor

    model = _converted_resnet18(op)
    x = torch.randn(1, 3, 32, 32)
    for candidate in (model, slimconv.deploy(model)):
        extractor = create_feature_extractor(candidate, {"layer2": "features", "fc": "logits"})  # traces train and eval
        with torch.no_grad():
            features = extractor(x)
            expected = candidate(x)
        assert features["features"].shape == (1, 128, 4, 4)
        torch.testing.assert_close(features["logits"], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("op", OPS)
def test_deployed_resnet18_runs_in_onnxruntime_with_the_eager_output(op):
    model = slimconv.deploy(_converted_resnet18(op))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(run_onnx(model, x), model(x), rtol=1e-4, atol=1e-5)


def test_a_graph_capture_leaves_the_eager_fast_paths_in_place():
    """The functional path is taken only while a graph is captured: an ordinary forward of SPConv's
    deploy form still accumulates the 1x1 GEMMs in place (the eager path counted by baddbmm)."""
    from torch.utils.flop_counter import FlopCounterMode

    from slimconv.ops._graph import capturing_graph

    assert not capturing_graph()
    module = layer_form("spconv", "deploy", 1, False)
    x = torch.randn(1, 16, 8, 8)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    assert "aten.baddbmm" in {str(op) for op in counter.get_flop_counts()["Global"]}
    graph_ops = {str(node.target) for node in torch.export.export(module, (x,)).graph.nodes}
    assert not any("baddbmm" in target for target in graph_ops)
