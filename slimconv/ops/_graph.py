"""Whether a forward pass is being captured as a graph (torch.fx, torch.jit.trace, torch.export, ONNX).

The eager forwards of some deploy forms write into preallocated buffers (``out=``), cache index
tensors by data pointer or pick a memory layout per call; those tricks are what makes them fast,
but a graph capture either cannot follow them (FakeTensors have no data pointer) or records them
in a form other tools mishandle (onnxruntime's shape inference on an in-place GEMM into a view).
While a graph is captured the operators take an equivalent functional path instead: the same
function, with every shape decided by the graph's own operations. Small pure helpers are made
``torch.fx.wrap`` leaves instead, so a ``torch.fx`` graph still runs their fast eager code.
"""

from __future__ import annotations

import torch
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

__all__ = ["capturing_graph"]


def capturing_graph() -> bool:
    """True inside ``torch.fx.symbolic_trace``, ``torch.jit.trace``, ``torch.export`` (hence
    ``torch.onnx.export(dynamo=True)``) and ``torch.compile``; False in an ordinary forward."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing() or is_fx_symbolic_tracing()
