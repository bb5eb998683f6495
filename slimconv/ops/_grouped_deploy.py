"""Deploy forms of a learned group convolution (FLGC): exact, and cheaper than the masked dense conv.

A grouping gives every input channel and every filter a group label. A group with both channels
and filters is *live*; filters of a group without input channels are *dead* (they output their
bias, or zero); channels of a group without filters are unused. With ``n_g`` channels and ``m_g``
filters in group ``g`` the layer needs ``k^2 sum_g n_g m_g`` multiply-accumulates per output
position instead of the dense ``k^2 C N``.

Two executions, both exact and both returning the filters in their original order:

- ``GroupwiseConv2d``: one small convolution per live group (a batched GEMM when the layer is 1x1
  without padding); gathers the group's input channels, writes its filters in place.
- ``PaddedGroupConv2d``: every live group padded to the largest (``n_max`` channels, ``m_max``
  filters) and run as one grouped convolution between one input gather and one output gather.
  With equal groups there is no padding: this is the permute-and-group-conv form.

``choose_form`` picks one of them (or the dense convolution) with the cost model described there.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._graph import capturing_graph

__all__ = ["GroupLayout", "GroupwiseConv2d", "PaddedGroupConv2d", "choose_form"]


@dataclass(frozen=True)
class GroupLayout:
    """Where the live groups of a grouping are.

    ``channels[i]`` / ``filters[i]``: ascending input-channel / filter indices (LongTensors) of the
    i-th live group; ``dead_filters``: filters whose group has no input channel.
    """

    channels: list[Tensor]
    filters: list[Tensor]
    dead_filters: Tensor

    @classmethod
    def from_labels(cls, channel_groups: Tensor, filter_groups: Tensor, groups: int) -> GroupLayout:
        """Layout of the grouping given by labels in ``[0, groups)`` (``C`` and ``N`` LongTensors)."""
        channel_groups, filter_groups = channel_groups.cpu(), filter_groups.cpu()
        channels, filters, dead = [], [], []
        for g in range(groups):
            c = torch.nonzero(channel_groups == g).flatten()
            f = torch.nonzero(filter_groups == g).flatten()
            if len(c) and len(f):
                channels.append(c)
                filters.append(f)
            else:
                dead.append(f)
        dead_filters = torch.cat(dead) if dead else torch.zeros(0, dtype=torch.long)
        return cls(channels, filters, dead_filters.sort().values)

    @property
    def sizes(self) -> list[tuple[int, int]]:
        """``(n_g, m_g)`` of every live group."""
        return [(len(c), len(f)) for c, f in zip(self.channels, self.filters, strict=True)]

    @property
    def padded_sizes(self) -> tuple[int, int]:
        """``(n_max, m_max)`` of the padded form, with room for the dead filters in the padding."""
        n_max = max(n for n, _ in self.sizes)
        m_max = max(m for _, m in self.sizes)
        free = sum(m_max - m for _, m in self.sizes)
        missing = len(self.dead_filters) - free
        if missing > 0:
            m_max += -(-missing // len(self.channels))
        return n_max, m_max


# Cost model of ``choose_form``, in multiply-accumulate equivalents per output position.
GEMM_DISCOUNT = 0.5  # a 1x1 group runs as a plain GEMM: about half a dense conv's cost per MAC
MOVE_COST = 24  # copying one channel at one position (gather, group result, scatter)
LAUNCH_COST = 128  # the fixed overhead of one more convolution call

# Results buffer of the 1x1 inference path per chunk of samples (see GroupwiseConv2d._pointwise_inference)
CHUNK_BYTES = 8 << 20


def choose_form(layout: GroupLayout, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0) -> str:
    """``"groupwise"``, ``"padded"`` or ``"dense"``: the cheapest exact execution of ``layout``.

    A deterministic cost model in multiply-accumulate equivalents per output position, with
    ``G'`` live groups and ``e = GEMM_DISCOUNT`` for 1x1 layers without padding (1 otherwise):

    - dense: ``k^2 C N`` (the masked weight in one ``nn.Conv2d``);
    - groupwise: ``e k^2 sum_g n_g m_g + MOVE_COST (C + 2N) + LAUNCH_COST G'``;
    - padded: ``k^2 G' n_max m_max + MOVE_COST (C + 2N) + LAUNCH_COST``.

    The deploy forms copy every input channel once (the gather) and every output channel twice
    (the group's result, then its scatter into place), about ``MOVE_COST`` MACs per channel and
    position: so thin layers stay dense, nearly equal groups pay little padding and take the
    single grouped conv, and uneven groups of wide layers run group by group. The model ignores
    the input size, so it underrates the launch overhead of small inputs. The constants were
    fitted to single-thread CPU times of the three forms on the project's 2-core x86 VM
    (float32; 1x1 and 3x3 layers of 64 to 512 channels, 2 to 16 random or equal groups, batch 1
    to 32, 8x8 to 32x32 maps): the chosen form was on average 4% and at worst 68% (batch 1,
    16 equal groups) slower than the best one measured. Ties go to the dense form, then the
    groupwise one.
    """
    k2 = kernel_size * kernel_size
    if not layout.channels:
        return "groupwise"  # every filter is dead: nothing to convolve
    live = len(layout.channels)
    discount = GEMM_DISCOUNT if kernel_size == 1 and padding == 0 else 1.0
    movement = MOVE_COST * (in_channels + 2 * out_channels)
    n_max, m_max = layout.padded_sizes
    costs = {
        "dense": k2 * in_channels * out_channels,
        "groupwise": discount * k2 * sum(n * m for n, m in layout.sizes) + movement + LAUNCH_COST * live,
        "padded": k2 * live * n_max * m_max + movement + LAUNCH_COST,
    }
    return min(costs, key=costs.get)


def _output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel_size) // stride + 1


def _gather_channels(x: Tensor, index: Tensor, out: Tensor | None = None) -> Tensor:
    """``x[:, index]`` for a contiguous ``B x C x H x W`` tensor -> ``B x len(index) x H x W``.

    Done as one gather of ``H W``-long rows of the ``B C x H W`` view: index_select along
    dimension 0 copies whole rows (a memcpy each), faster than index_select along dimension 1.
    ``out``: optional flat buffer of at least ``B len(index) H W`` elements to write into.
    """
    batch, channels, height, width = x.shape
    rows = (torch.arange(batch, device=x.device)[:, None] * channels + index).flatten()
    source = x.reshape(batch * channels, height * width)
    if out is None:
        gathered = source.index_select(0, rows)
    else:
        gathered = torch.index_select(
            source, 0, rows, out=out[: rows.numel() * height * width].view(-1, height * width)
        )
    return gathered.view(batch, len(index), height, width)


class GroupwiseConv2d(nn.Module):
    """One small convolution per live group of a learned grouping (FLGC deploy form).

    ``y[:, filters_g] = conv2d(x[:, channels_g], W_g) (+ b[filters_g])`` for every live group
    ``g``; dead filters output their bias (or zero). ``x``: ``B x C x H x W`` -> ``B x N x H' x W'``.
    Parameters: ``weights[i]`` (``m_g x n_g x k x k``), ``bias`` (``N``): exactly
    ``k^2 sum_g n_g m_g (+ N)``. A 1x1 layer without padding runs each group as one GEMM.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        padding: int,
        layout: GroupLayout,
        weight: Tensor,
        bias: Tensor | None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        device = weight.device
        self.weights = nn.ParameterList(
            nn.Parameter(weight[f][:, c]) for c, f in zip(layout.channels, layout.filters, strict=True)
        )
        self.bias = None if bias is None else nn.Parameter(bias.clone())
        self._sizes = layout.sizes
        # The groups' indices back to back; group i's are a slice (its sizes say where).
        no_index = torch.zeros(0, dtype=torch.long)
        self.register_buffer("channel_index", torch.cat([no_index, *layout.channels]).to(device))
        self.register_buffer("filter_index", torch.cat([no_index, *layout.filters]).to(device))
        self.register_buffer("dead_filters", layout.dead_filters.to(device))
        self._channel_counts = [n for n, _ in self._sizes]
        self._filter_counts = [m for _, m in self._sizes]
        self._row_cache: dict[tuple, tuple[list[Tensor], Tensor]] = {}  # see _chunk_rows
        self._row_stamp: tuple = ()

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, group_sizes={self._sizes}, dead_filters={len(self.dead_filters)}"
        )

    def forward(self, x: Tensor) -> Tensor:
        if capturing_graph():
            return self._graph_forward(x)
        batch, _, height, width = x.shape
        out_h = _output_size(height, self.kernel_size, self.stride, self.padding)
        out_w = _output_size(width, self.kernel_size, self.stride, self.padding)
        pointwise = self.kernel_size == 1 and self.padding == 0
        if pointwise and self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        x = x.contiguous()  # the row gathers below need NCHW rows
        if pointwise and self._sizes and not torch.is_grad_enabled():
            return self._pointwise_inference(x)
        out = x.new_empty(batch, self.out_channels, out_h, out_w)
        if len(self.dead_filters):
            fill = self._dead_values(x).view(1, -1, 1, 1).expand(batch, -1, out_h, out_w)
            out.index_copy_(1, self.dead_filters, fill)
        if not self._sizes:
            return out  # every filter is dead
        # Without autograd the per-group inputs go to one workspace per call, which the allocator
        # recycles between calls; many short-lived ones of a few MB it may hand back to the OS and
        # fault in again, which costs as much as the arithmetic here.
        workspace = None if torch.is_grad_enabled() else x.new_empty(batch * height * width * max(self._channel_counts))
        for weight, (n, m), channels, filters in zip(self.weights, self._sizes, *self._group_indices(), strict=True):
            x_g = _gather_channels(x, channels, workspace)
            bias = None if self.bias is None else self.bias[filters]
            if pointwise:  # a batched GEMM: no im2col, no layout conversion
                # (bmm, not matmul: matmul folds the batch through copies when the weight needs grad)
                w_g = weight.view(1, m, n).expand(batch, m, n)
                y = _batched_matmul(w_g, x_g.view(batch, n, out_h * out_w), bias, None)
            else:
                y = F.conv2d(x_g, weight, bias, self.stride, self.padding)
            out.index_copy_(1, filters, y.view(batch, m, out_h, out_w))
        return out

    def _graph_forward(self, x: Tensor) -> Tensor:
        """The same function for graph captures (see ``_graph``): each live group's convolution on
        its gathered channels, the dead filters' constant maps, one concatenation put back into
        filter order by one gather; no buffer, cache or in-place write, no shape branched on."""
        channel_offsets = [0, *itertools.accumulate(self._channel_counts)]
        filter_offsets = [0, *itertools.accumulate(self._filter_counts)]
        outputs = []
        for g, weight in enumerate(self.weights):
            channels = self.channel_index[channel_offsets[g] : channel_offsets[g + 1]]
            bias = None
            if self.bias is not None:
                bias = self.bias[self.filter_index[filter_offsets[g] : filter_offsets[g + 1]]]
            outputs.append(F.conv2d(x.index_select(1, channels), weight, bias, self.stride, self.padding))
        order = self.filter_index
        if len(self.dead_filters):
            out_h = _output_size(x.shape[2], self.kernel_size, self.stride, self.padding)
            out_w = _output_size(x.shape[3], self.kernel_size, self.stride, self.padding)
            dead = self._dead_values(x)[None, :, None, None].expand(x.shape[0], -1, out_h, out_w)
            outputs.append(dead)
            order = torch.cat([order, self.dead_filters])
        stacked = torch.cat(outputs, 1) if len(outputs) > 1 else outputs[0]
        return stacked.index_select(1, torch.argsort(order))

    def _dead_values(self, x: Tensor) -> Tensor:
        """What the dead filters output: their bias, or zero."""
        return x.new_zeros(len(self.dead_filters)) if self.bias is None else self.bias[self.dead_filters]

    def _pointwise_inference(self, x: Tensor) -> Tensor:
        """The 1x1 layer without autograd, a few samples at a time.

        For each chunk of samples every group's GEMM writes its block of one group-major buffer;
        then one row gather writes the chunk's output in filter order, front to back. Against
        a scatter of each group's filters into the whole output, that is one sequential pass
        instead of one strided pass per group: 14.1 against 16.3 ms at 256->256, 8 groups,
        32x32, batch 32 (2-core x86 VM, float32). The chunk keeps the buffer near
        ``CHUNK_BYTES``: measured 15.0 / 14.1 / 14.5 ms at 4 / 8 / 16 MB, 23.5 ms for the whole
        batch (33.5 MB, beyond glibc's 32 MB mmap limit, so it is faulted in afresh every call).
        """
        batch, channels, height, width = x.shape
        positions = height * width
        dead = len(self.dead_filters)
        live = self.out_channels - dead
        chunk = max(1, min(batch, CHUNK_BYTES // (self.out_channels * positions * x.element_size())))
        out = x.new_empty(batch, self.out_channels, height, width)
        out_rows, source = out.view(-1, positions), x.view(-1, positions)
        inputs = x.new_empty(chunk * max(self._channel_counts), positions)
        results = x.new_empty(chunk * live + dead, positions)
        if dead:  # one row per dead filter, shared by every sample (the row gather repeats it)
            results[chunk * live :] = self._dead_values(x)[:, None]
        biases = [None] * len(self._sizes)
        if self.bias is not None:
            biases = self.bias[self.filter_index].split(self._filter_counts)
        for start in range(0, batch, chunk):
            size = min(chunk, batch - start)
            group_rows, output_rows = self._chunk_rows(size, channels, chunk * live, x.device)
            chunk_source = source.narrow(0, start * channels, size * channels)
            row = 0
            for weight, (n, m), rows, bias in zip(self.weights, self._sizes, group_rows, biases, strict=True):
                x_g = torch.index_select(chunk_source, 0, rows, out=inputs[: size * n]).view(size, n, positions)
                y_g = results[row : row + size * m].view(size, m, positions)
                _batched_matmul(weight.view(1, m, n).expand(size, m, n), x_g, bias, y_g)
                row += size * m
            chunk_out = out_rows.narrow(0, start * self.out_channels, size * self.out_channels)
            torch.index_select(results, 0, output_rows, out=chunk_out)
        return out

    def _group_indices(self) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """The input-channel and the filter indices of every live group."""
        return self.channel_index.split(self._channel_counts), self.filter_index.split(self._filter_counts)

    def _chunk_rows(self, size: int, channels: int, dead_row: int, device: torch.device) -> tuple[list[Tensor], Tensor]:
        """Row indices for a chunk of ``size`` samples (cached): each live group's input rows in the
        chunk's ``size C x H W`` view of ``x``, and for each output row its row in the results
        buffer, where group ``g`` holds rows ``size x m_g`` and the dead filters start at ``dead_row``.

        The cache is emptied whenever an index buffer was changed in place (``load_state_dict``
        copies into them), so the rows always follow the current grouping."""
        indices = (self.channel_index, self.filter_index, self.dead_filters)
        stamp = tuple((t.data_ptr(), t._version) for t in indices)
        if stamp != self._row_stamp:
            self._row_cache.clear()
            self._row_stamp = stamp
        key = (size, channels, dead_row, device)
        if key not in self._row_cache:
            samples = torch.arange(size, device=device)[:, None]
            group_rows, output_rows = [], torch.empty(size, self.out_channels, dtype=torch.long, device=device)
            row = 0
            for channels_g, filters_g in zip(*self._group_indices(), strict=True):
                m = len(filters_g)
                group_rows.append((samples * channels + channels_g).flatten())
                output_rows[:, filters_g] = row + samples * m + torch.arange(m, device=device)
                row += size * m
            output_rows[:, self.dead_filters] = dead_row + torch.arange(len(self.dead_filters), device=device)
            self._row_cache[key] = (group_rows, output_rows.flatten())
        return self._row_cache[key]


def _batched_matmul(weight: Tensor, x: Tensor, bias: Tensor | None, out: Tensor | None) -> Tensor:
    """``weight @ x (+ bias)`` for ``B x m x n`` and ``B x n x P`` (bias ``m``) -> ``B x m x P``,
    written into ``out`` when one is given."""
    if bias is None:
        return torch.bmm(weight, x, out=out)
    return torch.baddbmm(bias.view(1, -1, 1), weight, x, out=out)


class PaddedGroupConv2d(nn.Module):
    """Live groups padded to ``n_max`` channels and ``m_max`` filters, run as one grouped conv (FLGC
    deploy form).

    ``x``: ``B x C x H x W`` -> gather ``G' n_max`` channels (padding slots repeat a real channel and
    meet zero weights) -> grouped conv with ``G'`` groups -> gather the ``N`` filters back in order
    -> ``B x N x H' x W'``. Dead filters sit in padding slots (zero weights, their bias).
    Parameters: ``weight``, the ``k^2 sum_g n_g m_g`` real weights flattened, and ``bias`` (``N``);
    the padded kernel is rebuilt from them on every call (it is small next to the activations).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        padding: int,
        layout: GroupLayout,
        weight: Tensor,
        bias: Tensor | None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.num_groups = len(layout.channels)
        n_max, m_max = layout.padded_sizes
        self.n_max, self.m_max = n_max, m_max
        k2 = kernel_size * kernel_size
        input_index = torch.zeros(self.num_groups, n_max, dtype=torch.long)
        output_index = torch.empty(out_channels, dtype=torch.long)
        weight_index, values = [], []
        dead = layout.dead_filters.tolist()
        for g, (c, f) in enumerate(zip(layout.channels, layout.filters, strict=True)):
            input_index[g, : len(c)] = c
            input_index[g, len(c) :] = c[0]
            output_index[f] = g * m_max + torch.arange(len(f))
            # Position of the block's weights in the flat padded kernel G' m_max x n_max x k x k.
            rows = g * m_max + torch.arange(len(f))
            cols = torch.arange(len(c))
            flat = (rows[:, None, None] * n_max + cols[None, :, None]) * k2 + torch.arange(k2)
            weight_index.append(flat.flatten())
            values.append(weight[f][:, c].detach().cpu().flatten())
            free = list(range(g * m_max + len(f), (g + 1) * m_max))
            for slot in free[: len(dead)]:
                output_index[dead.pop()] = slot
        device = weight.device
        self.weight = nn.Parameter(torch.cat(values).to(device=device, dtype=weight.dtype))
        self.bias = None if bias is None else nn.Parameter(bias.clone())
        self.register_buffer("weight_index", torch.cat(weight_index).to(device))
        self.register_buffer("input_index", input_index.flatten().to(device))
        self.register_buffer("output_index", output_index.to(device))

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, groups={self.num_groups}, padded_group=({self.n_max}, {self.m_max})"
        )

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel_size
        slots = self.num_groups * self.m_max
        kernel = self.weight.new_zeros(slots * self.n_max * k * k).index_copy(0, self.weight_index, self.weight)
        bias = None
        if self.bias is not None:
            bias = self.bias.new_zeros(slots).index_copy(0, self.output_index, self.bias)
        y = F.conv2d(
            _gather_channels(x.contiguous(), self.input_index),
            kernel.view(slots, self.n_max, k, k),
            bias,
            self.stride,
            self.padding,
            groups=self.num_groups,
        )
        return _gather_channels(y, self.output_index)
