"""Exact low-rank dynamic convolution without per-sample weights (the execution behind PEDConv).

Computes, for every sample ``b`` of a batch,

    y_b = conv2d(x_b, W * A_b) + bias,    A_b = sum_r gamma_{b,r} (x) phi_{b,r} (x) psi_{b,r}

(outer product over filter ``N``, input channel ``C`` and kernel position ``k^2``), as in PEDConv
(Hou & Kung, "Parameter Efficient Dynamic Convolution via Tensor Decomposition", BMVC 2021).

``gamma`` scales outputs and ``phi`` scales inputs, so only ``psi`` is tied to the kernel:

    y_b = bias + sum_r gamma_{b,r} * sum_j psi_{b,r,j} * (W_j @ X_{b,r,j})

where ``W_j = W[:, :, j]`` is the ``N x C`` matrix of kernel position ``j`` and ``X_{b,r,j}`` is
the ``C x (Ho Wo)`` slice of ``x_b * phi_{b,r}`` (zero padded, strided) that position ``j`` sees.
Every kernel position is one GEMM with the shared ``W_j``: convolution MACs are ``rank`` times
those of the static convolution (equal for rank 1) and no ``B x N x C x k x k`` tensor exists.

Inference on the CPU runs a few samples at a time as one grouped convolution with their weights
``W * psi`` (:func:`_grouped_forward`: a few samples' weights at a time, never the batch's). Elsewhere,
and under autograd, the forward takes a few samples at a time: it pads their
``x * phi_r`` channels-last, gathers each kernel position's slice scaled by ``psi`` and runs one
GEMM with ``W_j``, oriented so that the output comes out in the layout of ``x``. With autograd, a
custom function saves only ``x``, ``W`` and the factors (no activation of its own); its backward
rebuilds the padded input and works one kernel position at a time over the whole batch. The
largest temporaries of the backward are the padded input, one gathered slice, the input gradient
and one ``B x N x C`` slice (one kernel position of the per-sample weight gradient); those of the
forward are its output and a chunk's slices: a few activations, not the public code's
``B x N x C x k^2`` per-sample weights and their gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["dynamic_conv2d", "graph_dynamic_conv2d"]


def dynamic_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    gamma: Tensor,
    phi: Tensor,
    psi: Tensor,
    stride: int,
    padding: int,
) -> Tensor:
    """Low-rank dynamic convolution, exact, without materialising per-sample weights.

    Args:
        x: input ``B x C x H x W`` (any memory format).
        weight: shared base weight ``N x C x k x k``.
        bias: ``N`` or ``None``.
        gamma: filter factors ``B x R x N``.
        phi: input-channel factors ``B x R x C``.
        psi: kernel-position factors ``B x R x k^2`` (row-major over the ``k x k`` window).
        stride, padding: as for ``nn.Conv2d`` (square, zero padding).

    Returns:
        ``B x N x Ho x Wo`` in the memory format of ``x`` (channels-last stays channels-last).
    """
    device_type = x.device.type
    # Autocast exists for real devices only: a meta tensor (MACs counted without arithmetic) has none.
    if device_type != "meta" and torch.is_autocast_enabled(device_type):
        # The kernels write into preallocated buffers (out=), which autocast does not cast: run
        # the whole function in the autocast dtype, as torch.amp.custom_fwd(cast_inputs=...) would.
        dtype = torch.get_autocast_dtype(device_type)
        with torch.autocast(device_type, enabled=False):
            return dynamic_conv2d(x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype),
                                  gamma.to(dtype), phi.to(dtype), psi.to(dtype), stride, padding)
    tensors = (x, weight, gamma, phi, psi) + (() if bias is None else (bias,))
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _DynamicConv2d.apply(x, weight, bias, gamma, phi, psi, stride, padding)
    if device_type == "cpu" and weight.numel() * weight.element_size() <= GROUPED_WEIGHT_BYTES:
        return _grouped_forward(x, weight, bias, gamma, phi, psi, stride, padding)
    return _forward(x, weight, bias, gamma, phi, psi, stride, padding)


def graph_dynamic_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    gamma: Tensor,
    phi: Tensor,
    psi: Tensor,
    kernel_size: int,
    stride: int,
    padding: int,
) -> Tensor:
    """The same function as :func:`dynamic_conv2d` in plain tensor operations, for graph captures.

    ``torch.fx``, ``torch.jit.trace``, ``torch.export`` and ONNX cannot hold the chunk loop and the
    preallocated buffers of the fast execution. Here the input is unfolded once (``B x C x k^2 x
    L``, the im2col of an ordinary convolution), scaled by ``phi_r (x) psi_r`` and multiplied with
    the shared weight; ``kernel_size`` is the layer's, so no shape of a traced tensor is branched
    on. Memory: ``R`` scaled copies of the im2col matrix, no per-sample weight. ``B x N x Ho x Wo``.
    """
    columns = F.unfold(x, kernel_size, padding=padding, stride=stride)  # B x C k^2 x L
    columns = columns.unflatten(1, (weight.shape[1], kernel_size * kernel_size))  # B x C x k^2 x L
    scaled = columns[:, None] * phi[:, :, :, None, None] * psi[:, :, None, :, None]  # B x R x C x k^2 x L
    responses = torch.einsum("ncj,brcjl->brnl", weight.flatten(2), scaled)  # B x R x N x L
    y = (responses * gamma[..., None]).sum(1)
    if bias is not None:
        y = y + bias[:, None]
    out_h = (x.shape[2] + 2 * padding - kernel_size) // stride + 1
    out_w = (x.shape[3] + 2 * padding - kernel_size) // stride + 1
    return y.unflatten(2, (out_h, out_w))


def _memory_format(x: Tensor) -> torch.memory_format:
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _output_size(x: Tensor, kernel: int, stride: int, padding: int) -> tuple[int, int]:
    height, width = x.shape[-2:]
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"input {height}x{width} is smaller than the kernel {kernel} with padding {padding}")
    return out_h, out_w


def _weight_taps(weight: Tensor) -> Tensor:
    """``k^2 x N x C``, contiguous: ``W_j`` of every kernel position ready for the GEMMs."""
    n, c, k, _ = weight.shape
    return weight.permute(2, 3, 0, 1).reshape(k * k, n, c).contiguous()


def _scaled_padded(x: Tensor, phi_r: Tensor, padding: int, out: Tensor | None = None) -> Tensor:
    """``x * phi_r``, zero padded, channels-last: ``B x (H + 2p) x (W + 2p) x C``."""
    batch, c, height, width = x.shape
    if out is None:
        out = x.new_empty(batch, height + 2 * padding, width + 2 * padding, c)
        if padding:  # only the border: the interior is written below (zeroing it all cost 4% of a call)
            for border in (out[:, :padding], out[:, -padding:], out[:, :, :padding], out[:, :, -padding:]):
                border.zero_()
    torch.mul(x.permute(0, 2, 3, 1), phi_r[:, None, None, :],
              out=out[:, padding : padding + height, padding : padding + width])
    return out


def _window(padded: Tensor, j: int, kernel: int, stride: int, out_size: tuple[int, int]) -> Tensor:
    """``B x Ho x Wo x C`` view of a padded channels-last tensor: what kernel position ``j`` sees."""
    dy, dx = divmod(j, kernel)
    out_h, out_w = out_size
    return padded[:, dy : dy + stride * (out_h - 1) + 1 : stride, dx : dx + stride * (out_w - 1) + 1 : stride]


# -- forward: one GEMM per kernel position and chunk of samples ----------------------------------
#: Size of one gathered kernel-position slice, which sets how many samples the forward takes at a
#: time: about 1 MB keeps the slice and its GEMM result in a core's L2 (see _forward).
CHUNK_BYTES = 1 << 20


def _forward(x, weight, bias, gamma, phi, psi, stride, padding):
    """Forward of both executions, a chunk of samples at a time.

    For each chunk, ``x * phi_r`` is padded channels-last; then for each kernel position ``j``
    the input slice is gathered scaled by ``psi_j`` into a ``(b Ho Wo) x C`` matrix (long
    contiguous runs) and multiplied with ``W_j``. The GEMM is oriented so that the output comes
    out in the layout of ``x``: ``N x (b Ho Wo)`` for NCHW, ``(b Ho Wo) x N`` for channels-last.
    Chunks of about ``CHUNK_BYTES`` per slice were 6% faster than the whole batch at 128->128,
    16x16, batch 32 (11.1 against 11.8 ms, 8 samples a chunk, 2-core x86 VM, float32). Gathering
    a whole kernel row per GEMM was tried: no faster, and its 3x larger buffer costs page faults.
    """
    batch, c, height, width = x.shape
    n, k = weight.shape[0], weight.shape[-1]
    out_h, out_w = _output_size(x, k, stride, padding)
    positions = out_h * out_w
    channels_last = _memory_format(x) == torch.channels_last
    taps = _weight_taps(weight)
    chunk = max(1, min(batch, CHUNK_BYTES // (positions * c * x.element_size())))
    xpad = None  # x * phi_r of a chunk, padded; the buffer is reused across chunks and ranks
    gathered_buffer = x.new_empty(chunk * positions * c)
    partial_buffer = x.new_empty(chunk * positions * n)
    y = x.new_empty(batch, positions, n) if channels_last else x.new_empty(batch, n, positions)
    for start in range(0, batch, chunk):
        size = min(chunk, batch - start)
        samples = slice(start, start + size)
        gathered = gathered_buffer[: size * positions * c].view(size, out_h, out_w, c)
        rows = gathered.view(-1, c)
        partial_shape = (size * positions, n) if channels_last else (n, size * positions)
        partial = partial_buffer[: size * positions * n].view(partial_shape)
        for r in range(gamma.shape[1]):
            xpad = _scaled_padded(x[samples], phi[samples, r], padding, out=None if xpad is None else xpad[:size])
            for j in range(k * k):
                window = _window(xpad, j, k, stride, (out_h, out_w))
                torch.mul(window, psi[samples, r, j, None, None, None], out=gathered)
                a, b = (rows, taps[j].t()) if channels_last else (taps[j], rows.t())
                if j == 0:
                    torch.mm(a, b, out=partial)
                else:  # out= rather than addmm_: FlopCounterMode does not count in-place addmm_
                    torch.addmm(partial, a, b, out=partial)
            _accumulate(y[samples], partial, gamma[samples, r], bias, first=r == 0, channels_last=channels_last)
    if channels_last:
        return y.view(batch, out_h, out_w, n).permute(0, 3, 1, 2)
    return y.view(batch, n, out_h, out_w)


#: Per-sample weights that the grouped route builds at a time (a few samples' worth, about 2.5 MB).
GROUPED_WEIGHT_BYTES = 5 << 19


def _grouped_forward(x, weight, bias, gamma, phi, psi, stride, padding):
    """Inference on the CPU: a few samples at a time as one grouped convolution (one group per sample)
    with their weights ``W * psi_{b,r}`` (at most about ``GROUPED_WEIGHT_BYTES`` of them exist at once),
    inputs scaled by ``phi_{b,r}`` and outputs by ``gamma_{b,r}``, summed over ranks. The convolution
    kernels keep both cores busy where the small per-position GEMMs of :func:`_forward` do not:
    PEDConv over a static conv at 128->128, 16x16, batch 32, 2 threads (AMD EPYC) went from 1.75-1.85x
    to 1.34-1.41x with 4 samples a group (1: 1.58-1.78x, 8: 1.36-1.49x, all 32: 2.5-3.2x); it was
    faster at 64 and 256 channels too (56x56 and 14x14, batch 1 and 8), but at 512 channels (7x7,
    batch 8; 9.4 MB of weights per sample) one sample a group ran 5.2x the static conv against the
    GEMM route's 1.8x: layers whose one sample's weights exceed ``GROUPED_WEIGHT_BYTES`` take that route.
    """
    batch, c, height, width = x.shape
    n, k = weight.shape[0], weight.shape[-1]
    out_h, out_w = _output_size(x, k, stride, padding)
    chunk = max(1, min(batch, GROUPED_WEIGHT_BYTES // (weight.numel() * weight.element_size())))
    outputs = []
    for start in range(0, batch, chunk):
        samples = slice(start, min(batch, start + chunk))
        size = samples.stop - start
        y = None
        for r in range(gamma.shape[1]):
            inputs = (x[samples] * phi[samples, r, :, None, None]).reshape(1, size * c, height, width)
            weights = (weight[None] * psi[samples, r].view(size, 1, 1, k, k)).reshape(size * n, c, k, k)
            part = F.conv2d(inputs, weights, None, stride, padding, groups=size).view(size, n, out_h, out_w)
            y = part.mul_(gamma[samples, r, :, None, None]) if y is None else y.addcmul_(
                part, gamma[samples, r, :, None, None])
        outputs.append(y if bias is None else y.add_(bias[:, None, None]))
    return torch.cat(outputs).contiguous(memory_format=_memory_format(x))


def _accumulate(y: Tensor, partial: Tensor, gamma_r: Tensor, bias: Tensor | None, *, first: bool, channels_last: bool):
    """``y (+)= gamma_r * partial (+ bias on the first rank)`` in ``y``'s layout (``b x P x N`` or
    ``b x N x P``) from the GEMM's (``(b P) x N`` or ``N x (b P)``)."""
    size = y.shape[0]
    if channels_last:
        scaled, gamma_view, bias_view = partial.view(size, -1, partial.shape[1]), gamma_r[:, None, :], bias
    else:
        scaled, gamma_view = partial.view(partial.shape[0], size, -1).transpose(0, 1), gamma_r[:, :, None]
        bias_view = None if bias is None else bias[:, None]
    if not first:
        y.addcmul_(scaled, gamma_view)
    elif bias is None:
        torch.mul(scaled, gamma_view, out=y)
    else:
        torch.addcmul(bias_view, scaled, gamma_view, out=y)


# -- backward: low-memory autograd function -------------------------------------------------------
class _DynamicConv2d(torch.autograd.Function):
    """Saves ``x``, ``W`` and the factors only; backward works one kernel position at a time."""

    @staticmethod
    def forward(ctx, x, weight, bias, gamma, phi, psi, stride, padding):
        ctx.geometry = (stride, padding, bias is not None)
        ctx.save_for_backward(x, weight, gamma, phi, psi)
        return _forward(x, weight, bias, gamma, phi, psi, stride, padding)

    @staticmethod
    @once_differentiable  # no double backward (gradient penalties): say so instead of failing
    def backward(ctx, grad_y):
        x, weight, gamma, phi, psi = ctx.saved_tensors
        stride, padding, has_bias = ctx.geometry
        need_x, need_w, need_b, need_gamma, need_phi, need_psi = ctx.needs_input_grad[:6]
        batch, c, height, width = x.shape
        n, k = weight.shape[0], weight.shape[-1]
        out_size = tuple(grad_y.shape[-2:])
        grad_y = grad_y.contiguous().view(batch, n, -1)  # B x N x (Ho Wo)
        taps = _weight_taps(weight)

        grad_x = grad_weight = grad_bias = None
        grad_taps = x.new_zeros(k * k, n, c) if need_w else None
        grad_gamma = torch.zeros_like(gamma) if need_gamma else None
        grad_phi = torch.zeros_like(phi) if need_phi else None
        grad_psi = torch.zeros_like(psi) if need_psi else None
        for r in range(gamma.shape[1]):
            gamma_r, phi_r = gamma[:, r], phi[:, r]
            if need_w or need_gamma or need_psi:
                xpad = _scaled_padded(x, phi_r, padding)
                gathered = x.new_empty(batch, *out_size, c)
                for j in range(k * k):
                    gathered.copy_(_window(xpad, j, k, stride, out_size))
                    # moments[b, n, c] = sum_p dy[b, n, p] X_j[b, p, c]: per-sample gradient of W_j
                    moments = torch.bmm(grad_y, gathered.view(batch, -1, c)).transpose(0, 1)  # N x B x C
                    psi_rj = psi[:, r, j]
                    if need_w:
                        coefficients = (gamma_r * psi_rj[:, None]).t()[:, None, :]  # N x 1 x B
                        grad_taps[j] += torch.bmm(coefficients, moments)[:, 0]
                    if need_gamma or need_psi:
                        response = torch.bmm(moments, taps[j][:, :, None])[:, :, 0].t()  # B x N
                        if need_gamma:
                            grad_gamma[:, r] += psi_rj[:, None] * response
                        if need_psi:
                            grad_psi[:, r, j] = (gamma_r * response).sum(1)
                    del moments  # before the next bmm allocates its successor
                del xpad, gathered
            if need_x or need_phi:
                # d loss / d (x * phi_r), padded channels-last like the forward's input
                grad_xpad = x.new_zeros(batch, height + 2 * padding, width + 2 * padding, c)
                grad_tap = x.new_empty(batch, out_size[0] * out_size[1], c)
                for j in range(k * k):
                    # gradient w.r.t. the slice: dy^T (gamma_r * W_j) per sample. The B x N x C
                    # factor is smaller than gamma_r * dy (B x N x Ho Wo) whenever C < Ho Wo
                    tap_weight = gamma_r[:, :, None] * taps[j]
                    torch.bmm(grad_y.transpose(1, 2), tap_weight, out=grad_tap)
                    _window(grad_xpad, j, k, stride, out_size).addcmul_(
                        grad_tap.view(batch, *out_size, c), psi[:, r, j, None, None, None]
                    )
                    del tap_weight
                del grad_tap
                grad_scaled = grad_xpad[:, padding : padding + height, padding : padding + width]
                if need_phi:
                    grad_phi[:, r] = torch.einsum("bhwc,bhwc->bc", grad_scaled, x.permute(0, 2, 3, 1))
                if need_x:
                    grad_scaled = grad_scaled.permute(0, 3, 1, 2)
                    if grad_x is None:
                        grad_x = torch.empty_like(x, memory_format=_memory_format(x))
                        torch.mul(grad_scaled, phi_r[:, :, None, None], out=grad_x)
                    else:
                        grad_x.addcmul_(grad_scaled, phi_r[:, :, None, None])
                del grad_xpad, grad_scaled

        if need_w:
            grad_weight = grad_taps.view(k, k, n, c).permute(2, 3, 0, 1).contiguous()
        if need_b and has_bias:
            grad_bias = grad_y.sum((0, 2))
        return grad_x, grad_weight, grad_bias, grad_gamma, grad_phi, grad_psi, None, None
