"""The conditions a benchmark runs under, and the name its records are filed under."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import torch

from ..hardware import device_name
from .engine import EngineSettings

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MODES = ("inference", "training")


@dataclass(frozen=True)
class BenchSetup:
    """Device, dtype, layout and timing settings shared by every candidate of one run.

    ``mode="inference"`` times ``forward`` under ``torch.inference_mode``; ``"training"`` times a
    forward + backward of ``output.float().square().mean()``. The engine times every candidate in
    interleaved rounds of blocks of about ``block_time_s``, at least ``min_rounds`` of them, adding
    rounds until each ratio's 95% interval is within ``target_half_width`` or ``budget_s`` is spent.
    """

    device: str = "cpu"
    dtype: str = "float32"
    channels_last: bool = False
    compile: bool = False
    threads: int | None = None
    mode: str = "inference"
    budget_s: float = 20.0
    min_rounds: int = 6
    block_time_s: float = 0.05
    target_half_width: float = 0.05

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if torch.device(self.device).type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device='cuda' was asked for but no CUDA GPU is available; use device='cpu'")
        if self.device == "cpu" and self.dtype == "float16":
            raise ValueError("float16 convolutions are not supported on CPU; use float32 or bfloat16")
        self.engine_settings()  # checks the timing settings

    def engine_settings(self) -> EngineSettings:
        return EngineSettings(budget_s=self.budget_s, min_rounds=self.min_rounds, block_time_s=self.block_time_s,
                              target_half_width=self.target_half_width)

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
