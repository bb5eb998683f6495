"""Training augmentation per dataset; evaluation uses ``InputSpec.to_tensor``, the checkpoint's own preprocessing."""

from __future__ import annotations

from dataclasses import dataclass

import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor

from ..pretrained import InputSpec, convert_mode


@dataclass(frozen=True)
class Augmentation:
    """``crop_padding``: random crop of the model input after zero padding by this many pixels
    (0: none); ``flip``: random horizontal flip; ``resized_crop``: RandomResizedCrop (scale 0.08..1)
    instead of resize + center crop + pad (photos of any size: ImageFolder)."""

    crop_padding: int = 0
    flip: bool = False
    resized_crop: bool = False


class TrainTransform:
    """PIL image -> augmented, normalised ``C x H x W`` tensor of ``spec.input_size``."""

    def __init__(self, spec: InputSpec, augmentation: Augmentation) -> None:
        self.spec = spec
        side = spec.input_size[1]
        steps: list = []
        if augmentation.resized_crop:
            steps += [T.RandomResizedCrop(spec.crop, antialias=True), T.Pad(spec.pad)]
        else:
            steps += [T.Resize(spec.resize, antialias=True), T.CenterCrop(spec.crop), T.Pad(spec.pad)]
        if augmentation.crop_padding:
            steps.append(T.RandomCrop(side, padding=augmentation.crop_padding))
        if augmentation.flip:
            steps.append(T.RandomHorizontalFlip())
        self.augment = T.Compose(steps)

    def __call__(self, image: Image.Image) -> Tensor:
        image = self.augment(convert_mode(image, self.spec.in_chans))
        return self.spec.normalize(TF.pil_to_tensor(image).float().div_(255.0))

