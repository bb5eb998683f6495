"""Trained models as one handle: ``load_checkpoint`` (any file) and ``load_pretrained`` (the bundled ones)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from .._validate import file_path, instance_of, positive_int
from ..errors import CheckpointError, WeightsUnavailableError
from ..models import create_model
from ..weight_files import load_state_dict_strictly
from .files import CheckpointSource, read_checkpoint
from .meta import CheckpointMeta
from .preprocess import InputSpec

PRETRAINED_SUFFIX = ".pt"


@dataclass(frozen=True)
class Pretrained:
    """A trained model with what it takes to use it.

    ``model``: the network in eval mode (training form; ``slimconv.deploy`` fuses it);
    ``preprocess``: PIL image of any mode and size -> ``1 x C x H x W`` float tensor;
    ``classes``: class names in output order; ``meta``: everything recorded at training time,
    ``meta.metrics["test_accuracy"]`` included; ``source``: the file it came from.
    """

    model: nn.Module
    preprocess: InputSpec
    classes: tuple[str, ...]
    meta: CheckpointMeta
    source: str

    @torch.no_grad()
    def predict(self, image: Image.Image, top_k: int = 5) -> list[tuple[str, float]]:
        """The ``top_k`` most probable classes of ``image`` with their softmax probabilities, best first."""
        positive_int("top_k", top_k)
        parameter = next(self.model.parameters())
        batch = self.preprocess(image).to(device=parameter.device, dtype=parameter.dtype)
        probabilities = self.model(batch).softmax(dim=1)[0]
        values, indices = probabilities.topk(min(top_k, len(self.classes)))
        return [(self.classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)]


def build_model(meta: CheckpointMeta, source: str) -> nn.Module:
    """The untrained network that ``meta`` describes, built with ``create_model``."""
    instance_of("meta", meta, CheckpointMeta)
    try:
        return create_model(meta.model, op=meta.op, policy=meta.policy, in_chans=meta.in_chans,
                            num_classes=meta.num_classes, **meta.options)
    except (ValueError, TypeError) as error:
        raise CheckpointError(
            f"{source} was made with slimconv {meta.slimconv_version} for model {meta.model!r}, operator {meta.op!r} "
            f"and options {meta.options}, which this slimconv cannot build ({error}); install a matching version"
        ) from None


def load_checkpoint(source: CheckpointSource) -> Pretrained:
    """Load a checkpoint from a path, bytes or binary file object (e.g. a Streamlit upload).

    The model is rebuilt from the metadata and its weights are loaded strictly. Raises
    ``CheckpointError`` for a missing, empty, truncated, unsafe or foreign file, missing metadata, or
    weights that do not fit the recorded architecture (naming the first mismatched keys).
    """
    contents = read_checkpoint(source)
    label = contents.source
    model = build_model(contents.meta, label)
    try:
        load_state_dict_strictly(model, contents.state_dict, label)
    except WeightsUnavailableError as error:
        raise CheckpointError(f"{error} The file's weights and metadata disagree: re-export it from its run") from None
    return Pretrained(model=model.eval(), preprocess=contents.meta.input, classes=contents.meta.classes,
                      meta=contents.meta, source=label)


def _bundled_folder() -> Traversable:
    return resources.files("slimconv.models").joinpath("pretrained")


def list_pretrained(folder: str | Path | None = None) -> list[str]:
    """Names of the bundled checkpoints (``slimconv/models/pretrained/*.pt``), or of those in ``folder``."""
    root: Traversable = _bundled_folder() if folder is None else file_path("folder", folder)
    if not root.is_dir():
        return []
    return sorted(entry.name[: -len(PRETRAINED_SUFFIX)] for entry in root.iterdir()
                  if entry.is_file() and entry.name.endswith(PRETRAINED_SUFFIX) and not entry.name.startswith("."))


def load_pretrained(name: str, folder: str | Path | None = None) -> Pretrained:
    """Load the bundled checkpoint ``name`` (see ``list_pretrained``), or the one in ``folder``."""
    available = list_pretrained(folder)
    if name not in available:
        raise ValueError(f"no pretrained model {name!r}; choose one of {', '.join(available) or '(none bundled yet)'}")
    if folder is not None:
        return load_checkpoint(Path(folder) / (name + PRETRAINED_SUFFIX))
    with resources.as_file(_bundled_folder().joinpath(name + PRETRAINED_SUFFIX)) as path:
        return load_checkpoint(path)
