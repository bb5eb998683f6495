"""PEDConv: a shared base weight perturbed per input sample by a low-rank tensor.

Hou & Kung, "Parameter Efficient Dynamic Convolution via Tensor Decomposition", BMVC 2021.

For an input ``x`` (``B x C x H x W``) a small generator maps ``z = GAP(x)`` (``B x C``) to
logits for the input channels (``C``), the filters (``N``) and the kernel positions (``k^2``),
``R`` of each for rank ``R``. With ``phi, gamma, psi = sigmoid(logits)`` the per-sample weight is
``W_b = W * sum_r gamma_{b,r} (x) phi_{b,r} (x) psi_{b,r}`` (``N x C x k x k``) and
``y_b = conv2d(x_b, W_b)``. In training the logits are sampled, ``u = mu + noise_std * eps``.

Execution: the forward never builds the batch's per-sample weights. ``gamma`` scales outputs and
``phi`` inputs, so only ``psi`` is per kernel position; the exact execution of
:func:`slimconv.ops._dynamic_conv.dynamic_conv2d` runs GEMMs with the shared ``W[:, :, j]`` per
kernel position ``j`` (training, GPU), or on the CPU in inference a grouped convolution over a few
samples at a time with their weights ``W * psi`` (a few samples' worth, about 2.5 MB). Conv MACs
equal the static convolution's for rank 1 (``R`` times for rank ``R``), plus the generator's two
small Linears. In training, a custom
autograd function keeps only ``x``, ``W`` and the factors and recomputes the rest in backward.
:meth:`PEDConv2d.reference_forward` is the public code's method (``B`` weights, one conv with
``groups = B``), kept as the reference for tests and benchmarks.

Info-max (option ``infomax=True``, training only): a decoder reconstructs ``z`` from the sampled
logits; the trainer adds the loss after each forward pass in training mode::

    loss = task_loss + INFOMAX_LOSS_WEIGHT * pedconv_auxiliary_loss(model)   # weight 0.001
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import boolean, nn_module, positive_int
from ._base import SlimConv2d
from ._dynamic_conv import dynamic_conv2d, graph_dynamic_conv2d
from ._graph import capturing_graph
from ._registry import register_op

__all__ = ["INFOMAX_LOSS_WEIGHT", "PEDAttention", "PEDConv2d", "pedconv_auxiliary_loss"]

#: Weight of :func:`pedconv_auxiliary_loss` in the training loss (the paper's value).
INFOMAX_LOSS_WEIGHT = 1e-3

# sigmoid(0) ** 3: every entry of the rank-1 perturbation of a freshly initialised layer
_INITIAL_PERTURBATION = 0.125


@dataclass(frozen=True)
class PEDAttention:
    """The factors of one PEDConv layer for a batch (sigmoid outputs, in (0, 1)).

    Attributes:
        gamma: filter factors, ``B x R x N``.
        phi: input-channel factors, ``B x R x C``.
        psi: kernel-position factors, ``B x R x k^2`` (row-major over the ``k x k`` window).
    """

    gamma: Tensor
    phi: Tensor
    psi: Tensor

    def perturbation(self) -> Tensor:
        """``A = sum_r gamma_r (x) phi_r (x) psi_r``: ``B x N x C x k^2``."""
        return torch.einsum("brn,brc,brj->bncj", self.gamma, self.phi, self.psi)


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


@register_op("pedconv")
class PEDConv2d(SlimConv2d):
    """Parameter Efficient Dynamic Convolution (Hou & Kung, BMVC 2021).

    Input ``B x C x H x W``, output ``B x N x Ho x Wo`` (the sizes of ``nn.Conv2d``).

    Args:
        rank: ``R``, number of rank-1 terms of the perturbation (the released models use 1).
        reduction: hidden width of the generator is ``d = max(1, C // reduction)``.
        noise_std: std of the Gaussian noise added to the logits in training mode (0 disables).
        infomax: build the info-max decoder ``Linear(R (C + N + k^2) -> d) -> ReLU ->
            Linear(d -> C)``, which reconstructs ``z`` from the sampled logits; its loss is read
            with :func:`pedconv_auxiliary_loss`. Training-only: the deploy form drops it.
        bias: add a learnable bias (shared by all samples) to the output.

    Parameters: base weight ``N C k^2`` (+ ``N`` bias), generator ``C d + d + (d + 1) R (C + N
    + k^2)`` (945 for 64 -> 64, k = 3), decoder ``R (C + N + k^2) d + d + d C + C`` (872).
    Convolution MACs are ``R`` times those of the static convolution (equal for rank 1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        bias: bool = False,
        *,
        rank: int = 1,
        reduction: int = 16,
        noise_std: float = 0.1,
        infomax: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding)
        self.rank = positive_int("rank", rank)
        self.reduction = positive_int("reduction", reduction)
        self.noise_std = _non_negative("noise_std", noise_std)
        self.infomax = boolean("infomax", infomax)
        boolean("bias", bias)
        factory = dict(device=device, dtype=dtype)
        c, n, k = self.in_channels, self.out_channels, self.kernel_size
        self.hidden = max(1, c // self.reduction)
        # order of the logits of one rank term: input channels, filters, kernel positions
        self.logit_sizes = (c, n, k * k)
        logits = self.rank * sum(self.logit_sizes)

        self.weight = nn.Parameter(torch.empty(n, c, k, k, **factory))
        self.bias = nn.Parameter(torch.empty(n, **factory)) if bias else None
        # the paper's three heads stacked in one Linear: same parameters, one GEMM
        self.generator = nn.Sequential(
            nn.Linear(c, self.hidden, **factory), nn.ReLU(), nn.Linear(self.hidden, logits, **factory)
        )
        self.decoder = None
        if self.infomax:
            self.decoder = nn.Sequential(
                nn.Linear(logits, self.hidden, **factory), nn.ReLU(), nn.Linear(self.hidden, c, **factory)
            )
        # info-max loss of the last forward in training mode (see pedconv_auxiliary_loss)
        self._infomax_loss: Tensor | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The public code's initialisation: Linear N(0, 0.01) with zero bias (so ``A = 0.125``
        at the start), base weight Kaiming normal (fan_out)."""
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    # -- attention ----------------------------------------------------------------------------
    def _logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``z = GAP(x)`` (``B x C``) and the logits ``B x R x (C + N + k^2)``, sampled in training."""
        z = x.mean((2, 3))
        logits = self.generator(z).view(x.shape[0], self.rank, -1)
        if self.training and self.noise_std > 0:
            logits = logits + self.noise_std * torch.randn_like(logits)
        return z, logits

    def _factors(self, logits: Tensor) -> PEDAttention:
        c, n, _ = self.logit_sizes
        factors = logits.sigmoid()  # sliced, not split and unpacked: a torch.fx proxy cannot be iterated
        return PEDAttention(gamma=factors[..., c : c + n], phi=factors[..., :c], psi=factors[..., c + n :])

    def attention(self, x: Tensor) -> PEDAttention:
        """The factors for input ``x`` (``B x C x H x W``) in eval semantics (no noise), whatever
        the module's mode: ``gamma`` ``B x R x N``, ``phi`` ``B x R x C``, ``psi`` ``B x R x k^2``."""
        z = x.mean((2, 3))
        return self._factors(self.generator(z).view(x.shape[0], self.rank, -1))

    def per_sample_weight(self, x: Tensor) -> Tensor:
        """The weights that the forward applies, ``B x N x C x k x k`` (``W * A_b``).

        Follows the module's mode like ``forward``: sampled (noisy) in training, so that with the
        same random seed it matches the forward's draw.
        """
        attention = self._factors(self._logits(x)[1])
        k = self.kernel_size
        perturbation = attention.perturbation().unflatten(-1, (k, k))
        return self.weight * perturbation

    def reference_forward(self, x: Tensor) -> Tensor:
        """The public code's execution: ``B`` per-sample weights, one conv with ``groups = B``.

        Exact but memory-hungry (``B x N x C x k^2`` weights); kept as the reference for tests and
        benchmarks. Same semantics as ``forward`` (noise in training), without the info-max loss.
        """
        batch, c, height, width = x.shape
        weights = self.per_sample_weight(x).reshape(batch * self.out_channels, c, *self.weight.shape[2:])
        bias = None if self.bias is None else self.bias.repeat(batch)
        y = F.conv2d(
            x.reshape(1, batch * c, height, width), weights, bias, self.stride, self.padding, groups=batch
        )
        return y.view(batch, self.out_channels, *y.shape[-2:])

    def forward(self, x: Tensor) -> Tensor:
        """``B x C x H x W`` -> ``B x N x Ho x Wo``, exact, without per-sample weights."""
        z, logits = self._logits(x)
        capturing = capturing_graph()
        if self.training and self.decoder is not None and not capturing:
            # A captured graph has no place for this side output: it computes the task output only.
            reconstruction = self.decoder(logits.flatten(1))
            self._infomax_loss = F.mse_loss(reconstruction, z.detach())
        attention = self._factors(logits)
        if capturing:
            return graph_dynamic_conv2d(
                x, self.weight, self.bias, attention.gamma, attention.phi, attention.psi,
                self.kernel_size, self.stride, self.padding,
            )
        return dynamic_conv2d(
            x, self.weight, self.bias, attention.gamma, attention.phi, attention.psi,
            self.stride, self.padding,
        )

    # -- deploy protocol ----------------------------------------------------------------------
    def fuse(self) -> PEDConv2d:
        """Deploy form. PEDConv is dynamic, so it stays a PEDConv2d: a new layer with the same
        base weight, bias and generator, without the decoder and with ``noise_std = 0``, so it
        computes this layer's eval function in either mode. Conv MACs equal the static conv's
        (times ``rank``), plus the generator's two small Linears."""
        deployed = PEDConv2d(
            self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
            bias=self.bias is not None, rank=self.rank, reduction=self.reduction, noise_std=0.0,
            infomax=False, device=self.weight.device, dtype=self.weight.dtype,
        )
        state = {name: t for name, t in self.state_dict().items() if not name.startswith("decoder.")}
        deployed.load_state_dict(state)
        return deployed.eval()

    def training_only_parameters(self) -> list[nn.Parameter]:
        return [] if self.decoder is None else list(self.decoder.parameters())

    def _inherit_dense_weights(self, conv: nn.Conv2d) -> None:
        # A fresh layer multiplies W by ~rank * 0.125 everywhere: compensate, so that the
        # converted layer starts out computing (almost exactly) the dense convolution.
        self.weight.copy_(conv.weight / (self.rank * _INITIAL_PERTURBATION))
        if self.bias is not None and conv.bias is not None:
            self.bias.copy_(conv.bias)

    def __getstate__(self) -> dict:
        # the stored loss holds an autograd graph, which neither deepcopy nor pickle can take
        state = super().__getstate__()
        state["_infomax_loss"] = None
        return state

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, bias={self.bias is not None}, rank={self.rank}, "
            f"reduction={self.reduction}, noise_std={self.noise_std}, infomax={self.infomax}"
        )


def pedconv_auxiliary_loss(model: nn.Module) -> Tensor:
    """Info-max loss of every PEDConv layer of ``model`` built with ``infomax=True``.

    Sum over those layers of ``MSE(decoder(u), z.detach())`` from each layer's last forward pass in
    training mode (``u``: the sampled logits, ``B x R (C + N + k^2)``; ``z = GAP(x)``). A 0-d zero
    tensor when there is none. The trainer adds it after the forward pass:

        loss = task_loss + INFOMAX_LOSS_WEIGHT * pedconv_auxiliary_loss(model)   # weight 0.001
    """
    layers = nn_module("model", model).modules()
    losses = [m._infomax_loss for m in layers if isinstance(m, PEDConv2d) and m._infomax_loss is not None]
    if losses:
        return torch.stack(losses).sum()
    reference = next(model.parameters(), None)
    if reference is None:
        return torch.zeros(())
    return reference.new_zeros(())
