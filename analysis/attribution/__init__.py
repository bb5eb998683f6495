"""Attribution with captum: one method per file under a shared base, one call signature
(``Method(model, **options).attribute(images, target=None) -> AttributionMaps``)."""

from .agreement import AttributionAgreement, compare_attributions
from .base import AttributionMaps, AttributionMethod
from .channel_importance import ChannelImportance, channel_importance
from .grad_cam import GradCAM
from .integrated_gradients import IntegratedGradients
from .occlusion import Occlusion
from .saliency import Saliency

__all__ = [
    "AttributionAgreement",
    "AttributionMaps",
    "AttributionMethod",
    "ChannelImportance",
    "GradCAM",
    "IntegratedGradients",
    "Occlusion",
    "Saliency",
    "channel_importance",
    "compare_attributions",
]
