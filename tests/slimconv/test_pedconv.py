"""PEDConv (Hou & Kung, BMVC 2021): counts, initialisation, exact execution, info-max loss, deploy."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import slimconv
from slimconv.ops import _dynamic_conv
from slimconv.ops._dynamic_conv import dynamic_conv2d
from slimconv.ops.pedconv import INFOMAX_LOSS_WEIGHT, PEDAttention, PEDConv2d, pedconv_auxiliary_loss

from ._helpers import float64_reference, max_relative_error, perturb


def count(params) -> int:
    return sum(p.numel() for p in params)


def make(cin=16, cout=24, k=3, s=1, *, seed=0, **options) -> PEDConv2d:
    torch.manual_seed(seed)
    return perturb(PEDConv2d(cin, cout, k, s, **options), scale=0.2, seed=seed)


# -- counts and initialisation ------------------------------------------------------------------
def test_parameter_counts_match_the_spec():
    layer = PEDConv2d(64, 64, 3, infomax=True)
    assert layer.hidden == 4
    assert count(layer.generator.parameters()) == 945
    assert count(layer.training_only_parameters()) == 872
    assert count(layer.parameters()) == 64 * 64 * 9 + 945 + 872
    assert PEDConv2d(64, 64, 3).training_only_parameters() == []
    assert count(PEDConv2d(64, 64, 3).parameters()) == 64 * 64 * 9 + 945


@pytest.mark.parametrize("cin, cout, k, rank, reduction", [(32, 48, 3, 3, 8), (8, 16, 5, 2, 16), (24, 8, 1, 1, 4)])
def test_parameter_formulas_for_any_rank(cin, cout, k, rank, reduction):
    layer = PEDConv2d(cin, cout, k, rank=rank, reduction=reduction, bias=True, infomax=True)
    d = max(1, cin // reduction)
    logits = rank * (cin + cout + k * k)
    assert layer.hidden == d
    assert count(layer.generator.parameters()) == cin * d + d + (d + 1) * logits
    assert count(layer.training_only_parameters()) == logits * d + d + d * cin + cin
    assert layer.bias is not None and layer.bias.shape == (cout,)


def test_initialisation_gives_uniform_perturbation_and_kaiming_weight():
    torch.manual_seed(0)
    layer = PEDConv2d(64, 128, 3, infomax=True).eval()
    attention = layer.attention(torch.randn(4, 64, 8, 8))
    torch.testing.assert_close(attention.perturbation(), torch.full((4, 128, 64, 9), 0.125), atol=2e-3, rtol=0)
    for linear in [m for m in layer.modules() if isinstance(m, nn.Linear)]:
        assert torch.count_nonzero(linear.bias) == 0
        assert 0.006 < float(linear.weight.detach().std()) < 0.014
    expected_std = (2 / (128 * 9)) ** 0.5  # Kaiming normal, fan_out = N k^2
    assert abs(float(layer.weight.detach().std()) / expected_std - 1) < 0.05


def test_hidden_width_is_at_least_one():
    assert PEDConv2d(8, 8, 3).hidden == 1
    assert PEDConv2d(64, 8, 3, reduction=1).hidden == 64


# -- exact execution against the per-sample-weight reference ------------------------------------
EXECUTION = [
    # cin, cout, k, s, padding, b, h, w
    (16, 24, 3, 1, 1, 3, 9, 7),
    (16, 24, 3, 2, 1, 2, 9, 7),
    (8, 16, 5, 2, 2, 2, 11, 10),
    (16, 8, 1, 1, 0, 2, 5, 6),
    (16, 16, 3, 3, 0, 2, 10, 11),
    (8, 8, 3, 2, 2, 1, 1, 1),
]


@pytest.mark.parametrize("config", EXECUTION, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize("bias", [False, True])
def test_forward_equals_reference_in_eval(config, rank, bias):
    cin, cout, k, s, p, b, h, w = config
    layer = make(cin, cout, k, s, padding=p, rank=rank, bias=bias).eval()
    x = torch.randn(b, cin, h, w)
    with torch.no_grad():
        ref64 = copy.deepcopy(layer).double().reference_forward(x.double())
        assert max_relative_error(layer(x), ref64) <= 1e-5
        assert max_relative_error(layer.reference_forward(x), ref64) <= 1e-5


@pytest.mark.parametrize("config", EXECUTION[:3], ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("rank", [1, 3])
def test_forward_equals_reference_in_training_with_fixed_noise(config, rank):
    cin, cout, k, s, p, b, h, w = config
    layer = make(cin, cout, k, s, padding=p, rank=rank, noise_std=0.5, infomax=True).train()
    x = torch.randn(b, cin, h, w)
    with torch.no_grad():
        torch.manual_seed(7)
        out = layer(x)
        torch.manual_seed(7)
        ref = layer.reference_forward(x)
        assert max_relative_error(out, ref.double()) <= 1e-5
        torch.manual_seed(8)
        assert max_relative_error(layer(x), ref.double()) > 1e-3  # the noise is really there


@pytest.mark.parametrize("config", EXECUTION[:3] + EXECUTION[4:], ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("rank", [1, 3])
def test_gradients_equal_reference_gradients(config, rank):
    cin, cout, k, s, p, b, h, w = config
    layer = make(cin, cout, k, s, padding=p, rank=rank, bias=True).double().train()
    x = torch.randn(b, cin, h, w, dtype=torch.float64)
    upstream = torch.randn(b, cout, *layer.output_size(h, w), dtype=torch.float64)

    def gradients(method):
        layer.zero_grad()
        xg = x.clone().requires_grad_()
        torch.manual_seed(3)
        (method(xg) * upstream).sum().backward()
        return [xg.grad] + [p.grad for p in layer.parameters()]

    torch.manual_seed(3)
    with torch.enable_grad():  # the autograd function's forward, compared with the reference
        out = layer(x.clone().requires_grad_())
    torch.manual_seed(3)
    torch.testing.assert_close(out, layer.reference_forward(x), rtol=1e-10, atol=1e-12)
    for got, want in zip(gradients(layer), gradients(layer.reference_forward), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("grad", [False, True], ids=["inference-path", "autograd-path"])
def test_channels_last_input_equals_reference(grad):
    layer = make(16, 24, 3, 2, rank=2, bias=True).eval()
    x = torch.randn(2, 16, 9, 7).to(memory_format=torch.channels_last).requires_grad_(grad)
    with torch.set_grad_enabled(grad):
        out = layer(x)
    with torch.no_grad():
        ref64 = copy.deepcopy(layer).double().reference_forward(x.double())
    assert max_relative_error(out.detach(), ref64) <= 1e-5


@pytest.mark.parametrize("samples_per_chunk", [1, 2, 5])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("grad", [False, True], ids=["inference-path", "autograd-path"])
def test_forward_in_chunks_of_samples_equals_reference(monkeypatch, samples_per_chunk, memory_format, grad):
    # batch 5 in chunks of 2 leaves a short last chunk; rank 2 accumulates two passes per chunk
    layer = make(16, 24, 3, 2, rank=2, bias=True).eval()
    x = torch.randn(5, 16, 9, 7).to(memory_format=memory_format).requires_grad_(grad)
    positions = 5 * 4
    monkeypatch.setattr(_dynamic_conv, "CHUNK_BYTES", samples_per_chunk * positions * 16 * 4)  # GEMM route
    monkeypatch.setattr(_dynamic_conv, "GROUPED_WEIGHT_BYTES", samples_per_chunk * 24 * 16 * 9 * 4)  # CPU inference
    with torch.set_grad_enabled(grad):
        out = layer(x)
    with torch.no_grad():
        ref64 = copy.deepcopy(layer).double().reference_forward(x.double())
    assert max_relative_error(out.detach(), ref64) <= 1e-5
    assert out.is_contiguous(memory_format=memory_format)


def test_gradcheck_of_the_dynamic_conv_with_channels_last_input():
    torch.manual_seed(0)
    b, c, n, k, r = 2, 3, 4, 3, 2
    args = [
        torch.randn(b, c, 5, 4, dtype=torch.float64).to(memory_format=torch.channels_last),
        torch.randn(n, c, k, k, dtype=torch.float64),
        torch.randn(n, dtype=torch.float64),
        torch.rand(b, r, n, dtype=torch.float64),
        torch.rand(b, r, c, dtype=torch.float64),
        torch.rand(b, r, k * k, dtype=torch.float64),
    ]
    args = [a.requires_grad_() for a in args]
    assert torch.autograd.gradcheck(lambda *t: dynamic_conv2d(*t, stride=2, padding=1), args)


def test_only_some_inputs_needing_gradients():
    layer = make(16, 16, 3, 2, bias=True)
    layer.weight.requires_grad_(False)
    layer.generator.requires_grad_(False)
    x = torch.randn(2, 16, 7, 7, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is None and layer.bias.grad is not None


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_output_keeps_the_memory_format_of_the_input(memory_format):
    layer = make(16, 24, 3, 2).eval()
    x = torch.randn(2, 16, 9, 9).to(memory_format=memory_format)
    with torch.no_grad():
        out = layer(x)
    assert out.is_contiguous(memory_format=memory_format)
    xg = x.clone().requires_grad_()
    layer.train()(xg).sum().backward()
    assert xg.grad.is_contiguous(memory_format=memory_format)


@settings(max_examples=12, deadline=None)
@given(
    cin=st.sampled_from([8, 16]),
    cout=st.sampled_from([8, 24]),
    k=st.sampled_from([1, 3, 5]),
    s=st.integers(1, 3),
    extra_padding=st.integers(0, 2),
    rank=st.integers(1, 2),
    b=st.integers(1, 3),
    h=st.integers(5, 9),
    w=st.integers(5, 9),
)
def test_random_configurations_equal_reference(cin, cout, k, s, extra_padding, rank, b, h, w):
    padding = max(0, k // 2 + extra_padding - 1)
    layer = make(cin, cout, k, s, padding=padding, rank=rank).eval()
    x = torch.randn(b, cin, h, w)
    with torch.no_grad():
        ref64 = copy.deepcopy(layer).double().reference_forward(x.double())
        assert max_relative_error(layer(x), ref64) <= 1e-5


class _LargestOutput(TorchDispatchMode):
    """Records the largest tensor any aten op returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_no_per_sample_weights_are_materialised_in_forward_or_backward():
    b, c, n, k = 8, 32, 32, 3
    layer = make(c, n, k, rank=2, bias=True).train()
    x = torch.randn(b, c, 6, 6, requires_grad=True)
    # 73,728 per-sample weight entries; the largest legitimate tensor is the padded input (16,384)
    per_sample_weights = b * n * c * k * k
    with _LargestOutput() as probe:
        layer(x).sum().backward()
    assert probe.largest < per_sample_weights / 4
    with _LargestOutput() as probe:
        layer.reference_forward(x).sum().backward()
    assert probe.largest >= per_sample_weights  # the probe does see them in the reference


@pytest.mark.parametrize("rank, stride", [(1, 1), (1, 2), (3, 1)])
def test_counted_macs_are_the_static_conv_macs_plus_the_generator(rank, stride):
    b, c, n, k, h = 2, 32, 48, 3, 9
    layer = make(c, n, k, stride, rank=rank).fuse()
    x = torch.randn(b, c, h, h)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        layer(x)
    with FlopCounterMode(display=False) as static_counter, torch.no_grad():
        nn.Conv2d(c, n, k, stride, padding=1, bias=False)(x)
    d = layer.hidden
    generator_macs = b * (c * d + d * rank * (c + n + k * k))
    assert counter.get_total_flops() == 2 * (rank * static_counter.get_total_flops() // 2 + generator_macs)


# -- attention for the app --------------------------------------------------------------------
def test_attention_shapes_and_eval_semantics():
    layer = make(16, 24, 3, rank=2, noise_std=1.0).train()
    x = torch.randn(3, 16, 6, 6)
    attention = layer.attention(x)
    assert isinstance(attention, PEDAttention)
    assert attention.gamma.shape == (3, 2, 24)
    assert attention.phi.shape == (3, 2, 16)
    assert attention.psi.shape == (3, 2, 9)
    again = layer.attention(x)  # no noise even in training mode
    assert torch.equal(attention.gamma, again.gamma) and torch.equal(attention.psi, again.psi)
    assert ((attention.phi > 0) & (attention.phi < 1)).all()
    layer.eval()
    weight = layer.per_sample_weight(x)
    assert weight.shape == (3, 24, 16, 3, 3)
    expected = layer.weight * attention.perturbation().view(3, 24, 16, 3, 3)
    torch.testing.assert_close(weight, expected)


def test_attention_varies_across_images():
    layer = make(16, 24, 3).eval()
    with torch.no_grad():
        attention = layer.attention(torch.randn(4, 16, 6, 6) * torch.arange(1.0, 5.0).view(4, 1, 1, 1))
    assert float(attention.gamma.std(0).max()) > 1e-3


# -- info-max loss ------------------------------------------------------------------------------
def test_auxiliary_loss_is_the_decoder_mse_of_the_last_training_forward():
    model = nn.Sequential(make(16, 16, 3, infomax=True), nn.ReLU(), make(16, 8, 3, 2, infomax=True, seed=1))
    model.train()
    x = torch.randn(2, 16, 7, 7)
    torch.manual_seed(5)
    model(x)
    first, second = model[0], model[2]

    torch.manual_seed(5)  # replay the two noise draws of the forward
    expected = []
    inputs = x
    for layer in (first, second):
        z, logits = layer._logits(inputs)
        expected.append(F.mse_loss(layer.decoder(logits.flatten(1)), z))
        a = layer._factors(logits)
        inputs = torch.relu(dynamic_conv2d(inputs, layer.weight, None, a.gamma, a.phi, a.psi, layer.stride, 1))
    loss = pedconv_auxiliary_loss(model)
    torch.testing.assert_close(loss, expected[0] + expected[1])

    model.eval()
    model(torch.randn(2, 16, 7, 7))  # eval forwards leave the stored loss alone
    torch.testing.assert_close(pedconv_auxiliary_loss(model), loss)

    loss.backward()
    assert first.decoder[0].weight.grad is not None and first.generator[0].weight.grad is not None
    assert second.weight.grad is None  # z is detached: a layer's own base weight is not on the path
    assert INFOMAX_LOSS_WEIGHT == 1e-3


def test_auxiliary_loss_is_zero_without_infomax_layers():
    model = nn.Sequential(make(16, 16, 3), make(16, 16, 3, infomax=True).eval()).train()
    loss = pedconv_auxiliary_loss(model)
    assert loss.shape == () and float(loss) == 0.0  # the infomax layer has not run in training yet
    model(torch.randn(1, 16, 5, 5))
    assert float(pedconv_auxiliary_loss(model).detach()) > 0
    assert float(pedconv_auxiliary_loss(nn.Sequential(make(16, 16, 3)))) == 0.0
    assert pedconv_auxiliary_loss(nn.ReLU()).shape == ()


def test_layer_with_a_stored_loss_can_be_copied_and_pickled():
    layer = make(16, 16, 3, infomax=True).train()
    layer(torch.randn(2, 16, 5, 5))
    assert layer._infomax_loss is not None
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert clone._infomax_loss is None
        pairs = zip(clone.state_dict().values(), layer.state_dict().values(), strict=True)
        assert all(torch.equal(a, b) for a, b in pairs)


# -- noise, deploy, surgery ---------------------------------------------------------------------
def test_noise_only_in_training_and_zero_noise_means_train_equals_eval():
    x = torch.randn(2, 16, 6, 6)
    layer = make(16, 16, 3, noise_std=0.0)
    torch.testing.assert_close(layer.train()(x), layer.eval()(x), rtol=0, atol=0)
    noisy = make(16, 16, 3)
    eval_out = noisy.eval()(x)
    torch.testing.assert_close(noisy.eval()(x), eval_out, rtol=0, atol=0)
    assert not torch.allclose(noisy.train()(x), eval_out)


def test_fuse_drops_the_decoder_and_computes_the_eval_function_in_any_mode():
    layer = make(16, 24, 3, 2, rank=2, bias=True, infomax=True, noise_std=0.3).train()
    layer(torch.randn(2, 16, 7, 7))  # a stored loss must not get in the way
    deployed = layer.fuse()
    assert isinstance(deployed, PEDConv2d) and deployed is not layer and not deployed.training
    assert deployed.decoder is None and deployed.noise_std == 0.0 and deployed.training_only_parameters() == []
    assert count(deployed.parameters()) == count(layer.parameters()) - count(layer.training_only_parameters())
    x = torch.randn(3, 16, 9, 9)
    ref = float64_reference(layer, x)
    with torch.no_grad():
        assert max_relative_error(deployed(x), ref) <= 1e-5
        assert max_relative_error(deployed.train()(x), ref) <= 1e-5
        deployed.weight.add_(1.0)
    assert not torch.equal(deployed.weight, layer.weight)  # no shared storage
    assert layer.training and layer.decoder is not None


def test_from_conv_starts_close_to_the_dense_conv():
    torch.manual_seed(0)
    for rank in (1, 2):
        conv = nn.Conv2d(32, 32, 3, stride=2, padding=1, bias=True)
        layer = slimconv.get_op("pedconv").from_conv(conv, rank=rank).eval()
        x = torch.randn(2, 32, 9, 9)
        with torch.no_grad():
            assert max_relative_error(layer(x), conv(x).double()) < 1e-2
            torch.testing.assert_close(layer.bias, conv.bias)


@pytest.mark.parametrize(
    "options, name",
    [
        (dict(rank=0), "rank"),
        (dict(rank=1.5), "rank"),
        (dict(reduction=0), "reduction"),
        (dict(noise_std=-0.1), "noise_std"),
        (dict(noise_std="0.1"), "noise_std"),
        (dict(noise_std=float("nan")), "noise_std"),
        (dict(infomax=1), "infomax"),
        (dict(bias="yes"), "bias"),
    ],
)
def test_bad_options_raise_value_error(options, name):
    with pytest.raises(ValueError, match=name):
        PEDConv2d(16, 16, 3, **options)


def test_input_smaller_than_the_kernel_raises():
    with pytest.raises(ValueError, match="smaller than the kernel"):
        PEDConv2d(8, 8, 5, padding=0).eval()(torch.randn(1, 8, 3, 3))


def test_registered_and_repr():
    layer = slimconv.create_conv("pedconv", 16, 16, 3, rank=2, infomax=True)
    assert isinstance(layer, PEDConv2d) and layer.op_name == "pedconv"
    assert "rank=2" in repr(layer) and "infomax=True" in repr(layer)


def test_autocast_runs_the_dynamic_conv_in_the_autocast_dtype():
    # Mixed-precision training (bfloat16 on CPU, float16 on CUDA) goes through autocast; the
    # preallocated out= buffers must follow its dtype, and the result stay close to float32.
    torch.manual_seed(0)
    layer = PEDConv2d(8, 12, 3, rank=2).eval()  # eval: no noise, so both passes compute the same function
    x = torch.randn(4, 8, 9, 9, requires_grad=True)
    reference = layer(x)
    reference.square().sum().backward()
    grad_reference = x.grad.clone()
    x.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
    assert out.dtype == torch.bfloat16
    out.float().square().sum().backward()
    assert x.grad.dtype == torch.float32 and layer.weight.grad.dtype == torch.float32
    assert max_relative_error(out.detach().float(), reference.detach()) < 0.05
    assert max_relative_error(x.grad, grad_reference) < 0.1


def test_macs_count_the_same_on_the_meta_device():
    # The slimming plan counts MACs on meta tensors (no arithmetic); autocast has no meta device.
    model = slimconv.convert(slimconv.create_model("resnet20", num_classes=10, in_chans=1), "pedconv").eval()
    on_cpu = slimconv.count_macs(model, (1, 32, 32))
    assert on_cpu > 0
    assert slimconv.count_macs(copy.deepcopy(model).to("meta"), (1, 32, 32)) == on_cpu
