"""Training the zoo: ``python -m slimconv.train`` / ``slimconv-train``, or ``train(TrainConfig(...))``."""

from .config import TrainConfig
from .datasets import DATASETS, TrainData, load_data
from .finetune import finetune
from .run import TrainResult, train

__all__ = ["DATASETS", "TrainConfig", "TrainData", "TrainResult", "finetune", "load_data", "train"]
