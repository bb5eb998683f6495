"""Where a notebook's model and images come from, and the cells that load them.

A :class:`ModelSource` says how the lab built the model (zoo name, torchvision name, a file's path, an
operator conversion); :func:`model_cells` writes the same steps with the library. Every value from a user
(a file name, a layer name, an image name) enters the code as a Python literal (``repr``), never as code.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

#: How the lab converts a model: with this seed, so that the notebook's new layers start from the same weights.
CONVERSION_SEED = 0
KINDS = ("zoo", "torchvision", "torchvision-random", "torchvision-file", "checkpoint")


@dataclass(frozen=True)
class ModelSource:
    """``kind`` (one of :data:`KINDS`); ``name``: zoo or torchvision name; ``path``: the file (its name for an
    upload, which the notebook's reader replaces by the path of their copy); ``op``/``policy``: a conversion."""

    kind: str
    name: str = ""
    path: str = ""
    op: str = ""
    policy: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"model source kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    def converted(self, op: str, policy: str | None) -> ModelSource:
        return ModelSource(self.kind, self.name, self.path, op, policy)


@dataclass(frozen=True)
class NotebookImage:
    """A bundled sample (``png`` is ``None``: loaded by name) or an image of the session, embedded as PNG."""

    name: str
    png: bytes | None = None

    @classmethod
    def embedded(cls, name: str, image: Image.Image) -> NotebookImage:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")  # lossless: the notebook decodes the pixels the lab used
        return cls(name, buffer.getvalue())


def _load_lines(source: ModelSource, model: str) -> list[str]:
    if source.kind == "zoo":
        return [f"handle = slimconv.load_pretrained({source.name!r}, "
                "os.environ.get('SLIMCONV_PRETRAINED_DIR') or None)",
                f"{model}, {model}_preprocess = handle.model.eval(), handle.preprocess",
                f"{model}_classes = list(handle.classes)"]
    if source.kind == "checkpoint":
        return [f"{model.upper()}_PATH = {source.path!r}  # the path of this checkpoint file on your machine",
                f"handle = slimconv.load_checkpoint({model.upper()}_PATH)",
                f"{model}, {model}_preprocess = handle.model.eval(), handle.preprocess",
                f"{model}_classes = list(handle.classes)"]
    lines = [f"weights = torchvision.models.get_model_weights({source.name!r}).DEFAULT"]
    if source.kind == "torchvision":
        lines.append(f"{model} = slimconv.create_model({source.name!r}, weights='DEFAULT').eval()")
    elif source.kind == "torchvision-random":
        lines += ["torch.manual_seed(0)  # torchvision's random initialisation, as the lab draws it: structure only",
                  f"{model} = slimconv.create_model({source.name!r}).eval()"]
    else:
        lines += [f"{model.upper()}_WEIGHTS = {source.path!r}  # the path of this weights file on your machine",
                  f"{model} = slimconv.create_model({source.name!r})",
                  f"state_dict = read_state_dict_bytes(Path({model.upper()}_WEIGHTS).read_bytes(), "
                  f"{model.upper()}_WEIGHTS)",
                  f"load_state_dict_strictly({model}, state_dict, {model.upper()}_WEIGHTS)",
                  f"{model}.eval()"]
    return lines + ["transforms = weights.transforms()",
                    f"{model}_preprocess = lambda image, transforms=transforms: "
                    "transforms(convert_mode(image, 3)).unsqueeze(0)",
                    f"{model}_classes = list(weights.meta['categories'])"]


def model_code(source: ModelSource, model: str = "model") -> str:
    """Code that binds ``model``, ``model_preprocess`` (PIL image -> ``1 x C x H x W``) and ``model_classes``."""
    lines = _load_lines(source, model)
    if source.op:
        lines += [f"torch.manual_seed({CONVERSION_SEED})  # the lab converts with this seed: new layers start alike",
                  f"{model} = slimconv.convert({model}, {source.op!r}, policy={source.policy!r}).eval()"]
    return "\n".join(lines)


IMPORTS = """\
%matplotlib inline
import base64
import os
from pathlib import Path

import pandas as pd
import torch
import torchvision

import analysis
import slimconv
from analysis import figures, tables
from slimconv.pretrained import convert_mode
from slimconv.weight_files import load_state_dict_strictly, read_state_dict_bytes"""



def images_code(images: Sequence[NotebookImage]) -> str:
    """Code that binds ``image_names``, ``images`` (PIL) and ``batch`` (preprocessed, ``B x C x H x W``)."""
    entries = "\n".join(f"    ({item.name!r}, {None if item.png is None else base64.b64encode(item.png).decode()!r}),"
                        for item in images)
    return (f"# (name, PNG in base64): None loads the bundled sample of that name; the others are your images.\n"
            f"IMAGES = [\n{entries}\n]\n"
            "image_names = [name for name, _ in IMAGES]\n"
            "images = [analysis.load_image(analysis.sample_path(name).read_bytes() if png is None else "
            "base64.b64decode(png))\n          for name, png in IMAGES]\n"
            "batch = torch.cat([model_preprocess(image) for image in images])\n"
            "INPUT_SIZE = tuple(batch.shape[1:])\n"
            "print(f'{len(images)} images, each {INPUT_SIZE} for the model')")
