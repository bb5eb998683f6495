"""Trained checkpoints: the file format, safe loading, preprocessing, and the bundled models."""

from ..image_modes import convert_mode
from .atomic import write_atomically
from .files import CheckpointContents, export_safetensors, read_checkpoint, save_checkpoint
from .handle import Pretrained, build_model, list_pretrained, load_checkpoint, load_pretrained
from .meta import CheckpointMeta, deployed_macs
from .preprocess import InputSpec

__all__ = [
    "CheckpointContents",
    "CheckpointMeta",
    "InputSpec",
    "Pretrained",
    "build_model",
    "convert_mode",
    "deployed_macs",
    "export_safetensors",
    "list_pretrained",
    "load_checkpoint",
    "load_pretrained",
    "read_checkpoint",
    "save_checkpoint",
    "write_atomically",
]
