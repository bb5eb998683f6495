"""An input that moves to fresh memory between timed blocks, so that the rounds sample memory placements.

Where the input, and with it the output and oneDNN's buffers, lie in memory sets the speed of a
convolution for as long as they stay there: a 64 -> 64 3x3 conv at 56x56, batch 8, took 9 ms at some
placements and 15 to 18 ms at others (the same within a process, different between processes). A run
that kept one placement gave a tight interval around a ratio the next run did not reproduce (0.41 to
0.73 for FLGC's deploy form over four runs of one command); moved before every block, the rounds
sample placements, and the median and its interval account for them.
"""

from __future__ import annotations

import random

import torch


class MovingInput:
    """``tensor``, copied to fresh memory by ``move()`` after a spacer of random size (kept until the
    next move, so that the copy does not land where the last one was). The spacer sizes follow the
    same sequence in every run."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor
        self._sizes = random.Random(0)
        self._spacer: torch.Tensor | None = None

    def move(self) -> None:
        self._spacer = None
        self._spacer = torch.empty(self._sizes.randrange(1, 1 << 16), device=self.tensor.device)
        self.tensor = self.tensor.clone()
