"""The conditions a benchmark runs under, and the name its records are filed under."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import torch

from ..hardware import device_name

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MODES = ("inference", "training")


@dataclass(frozen=True)
class BenchSetup:
    """Device, dtype, layout and timing settings shared by every candidate of one run.

    ``mode="inference"`` times ``forward`` under ``torch.inference_mode``; ``"training"`` times a
    forward + backward of ``output.float().square().mean()``. Each candidate is timed in ``rounds``
    interleaved blocks (A B A B ...) of at least ``min_block_time_s`` each.
    """

    device: str = "cpu"
    dtype: str = "float32"
    channels_last: bool = False
    compile: bool = False
    threads: int | None = None
    mode: str = "inference"
    rounds: int = 7
    min_block_time_s: float = 0.05
    warmup: int = 2

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if torch.device(self.device).type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' was asked for but no CUDA GPU is available; use device='cpu'")
        if self.device == "cpu" and self.dtype == "float16":
            raise ValueError("float16 convolutions are not supported on CPU; use float32 or bfloat16")
        if self.rounds < 1 or self.min_block_time_s <= 0 or self.warmup < 0:
            raise ValueError("rounds must be >= 1, min_block_time_s > 0 and warmup >= 0")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def tag(self) -> str:
        """``cpu-float32-nchw-inference-torch2.14.1``: what a record of this setup is named after."""
        layout = "channels_last" if self.channels_last else "nchw"
        compiled = "-compiled" if self.compile else ""
        version = torch.__version__.split("+")[0]
        return f"{torch.device(self.device).type}-{self.dtype}-{layout}-{self.mode}{compiled}-torch{version}"

    def describe(self) -> dict[str, object]:
        """The setup plus the hardware and software it ran on, for the record's header."""
        return asdict(self) | {
            "device_name": device_name(self.device),
            "threads_used": self.threads or torch.get_num_threads(),
            "torch": torch.__version__,
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
