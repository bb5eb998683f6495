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
from ..weight_files import load_state_dict_strictly, mismatch_message, state_dict_mismatches
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


def _create(meta: CheckpointMeta, dense: bool = False) -> nn.Module:
    if dense:
        return create_model(meta.model, in_chans=meta.in_chans, num_classes=meta.num_classes)
    return create_model(meta.model, op=meta.op, policy=meta.policy, in_chans=meta.in_chans,
                        num_classes=meta.num_classes, **meta.options)


def build_model(meta: CheckpointMeta, source: str) -> nn.Module:
    """The untrained network that ``meta`` describes, built with ``create_model``."""
    instance_of("meta", meta, CheckpointMeta)
    try:
        return _create(meta)
    except (ValueError, TypeError) as error:
        raise _cannot_build(meta, source, error) from None


def _cannot_build(meta: CheckpointMeta, source: str, error: Exception) -> CheckpointError:
    return CheckpointError(
        f"{source} was made with slimconv {meta.slimconv_version} for model {meta.model!r}, operator {meta.op!r} "
        f"and options {meta.options}, which this slimconv cannot build ({error}); install a matching version")


#: Without an exact comparison (an operator that cannot be built on the meta device), the dense
#: architecture may hold at most this many times the file's values (operators are smaller than dense).
_DENSE_ALLOWANCE, _DENSE_SLACK = 32, 4_000_000


def check_fits_before_building(meta: CheckpointMeta, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Compare the named architecture with the file's tensors on the meta device (no memory), so that a small
    file naming a huge model is refused before the model is built."""
    try:
        with torch.device("meta"):
            expected = _create(meta).state_dict()
    except (ValueError, TypeError) as error:
        raise _cannot_build(meta, source, error) from None
    except Exception:  # an operator whose weight inheritance has no meta kernel: bound by the dense model
        with torch.device("meta"):
            dense = sum(tensor.numel() for tensor in _create(meta, dense=True).state_dict().values())
        held = sum(tensor.numel() for tensor in state_dict.values())
        if dense > _DENSE_ALLOWANCE * held + _DENSE_SLACK:
            raise CheckpointError(f"{source} holds {held:,} values, far fewer than {meta.model!r} needs ({dense:,} "
                                  "dense); the file's weights and metadata disagree: re-export it from its "
                                  "run") from None
        return
    problems = state_dict_mismatches(expected, state_dict)
    if problems:
        architecture = f"{meta.model}" + (f" + {meta.op}" if meta.op else "")
        raise CheckpointError(f"{mismatch_message(architecture, source, problems)} The file's weights and metadata "
                              "disagree (found before building the model): re-export it from its run")


def load_checkpoint(source: CheckpointSource) -> Pretrained:
    """Load a checkpoint from a path, bytes or binary file object (e.g. a Streamlit upload).

    The file's size, metadata and tensors are checked first (bounded, untrusted), then the recorded
    architecture is compared with the weights on the meta device, and only then is the model built and its
    weights loaded strictly. Raises ``CheckpointError`` for a missing, empty, truncated, unsafe, oversized or
    foreign file, malformed metadata, NaN or infinite weights, or weights that do not fit the recorded
    architecture (naming the first mismatched keys).
    """
    contents = read_checkpoint(source)
    label = contents.source
    check_fits_before_building(contents.meta, contents.state_dict, label)
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
