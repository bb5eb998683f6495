"""slimconv: drop-in convolution operators that exploit redundancy, with model surgery and profiling.

Operators (``list_ops()``): SPConv, LinearConv, FLGC, PEDConv and the Ghost, HetConv and OctConv
baselines. ``convert`` puts them into any model, ``deploy`` fuses them into their fastest exact form,
``count_params``/``count_macs``/``profile``/``measure_latency`` measure what they cost.
"""

from .convert import ConvertReport, ReplacedLayer, SkippedLayer, convert, default_policy
from .deploy import deploy
from .errors import SlimconvError, UnsupportedLayerError, WeightsUnavailableError
from .latency import LatencyResult, measure_latency
from .models import create_model, list_models
from .ops import SlimConv2d, create_conv, get_op, list_ops, register_op
from .policies import POLICIES, select_convs
from .profile import (
    LayerProfile,
    ModelProfile,
    ProfileTable,
    count_macs,
    count_params,
    count_training_only_params,
    profile,
)

__all__ = [
    "POLICIES",
    "ConvertReport",
    "LatencyResult",
    "LayerProfile",
    "ModelProfile",
    "ProfileTable",
    "ReplacedLayer",
    "SkippedLayer",
    "SlimConv2d",
    "SlimconvError",
    "UnsupportedLayerError",
    "WeightsUnavailableError",
    "convert",
    "count_macs",
    "count_params",
    "count_training_only_params",
    "create_conv",
    "create_model",
    "default_policy",
    "deploy",
    "get_op",
    "list_models",
    "list_ops",
    "measure_latency",
    "profile",
    "register_op",
    "select_convs",
]
__version__ = "0.1.0"
