"""Redundancy analysis of convolutional networks, without Streamlit.

Plain functions return dataclasses of named CPU tensors; the builders in :mod:`analysis.figures`
turn them into matplotlib figures, so every view of the app can be made from a script or notebook.
Every function that runs a model attaches its hooks in a context manager and removes them, even
on error, and restores the model's train/eval modes.

Activations: :func:`capture_activations`, :func:`channel_similarity`, :func:`cluster_channels`,
:func:`layer_redundancy_scores`, :func:`ghost_pairs`, :func:`linear_cka`, :func:`model_cka_map`,
:func:`redundancy_report`. Plans: :func:`propose_plan` (per-layer operator proposals from measured
redundancy, steered by a budget), :func:`edit_plan`. Weights: :func:`filter_correlation`, :func:`filter_spectrum`,
:func:`primaries_needed`. Operators: :func:`inspect_spconv`, :func:`split_what_if`,
:func:`inspect_flgc`, :func:`flgc_switches`, :func:`inspect_pedconv`, :func:`inspect_linearconv`.
Attribution: :mod:`analysis.attribution`. Images: :func:`load_image` (any file, upload or PIL image ->
an upright ``"L"``/``"RGB"`` image of bounded size, or an ``ImageLoadError`` that says why not).
"""

from ._lazy import lazy_attribute
from .capture import DEFAULT_MAX_VALUES_PER_IMAGE, CapturedActivations, bound_map_size, capture_activations
from .cka import CKAMap, cka_from_grams, cka_map, gram_matrix, layer_grams, linear_cka, model_cka_map
from .clustering import ChannelClusters, cluster_channels
from .dense_grouping import DenseGrouping, dense_grouping
from .filters import (
    FilterCorrelation,
    FilterSpectrum,
    PrimaryRebuild,
    correlation_regulariser,
    filter_correlation,
    filter_spectrum,
    linearconv_params,
    primaries_needed,
)
from .flgc_inspection import FLGCInspection, FLGCSwitches, GroupStructure, flgc_switches, group_structure, inspect_flgc
from .ghost_pairs import CheapRebuild, GhostPairs, fit_affine, fit_depthwise, ghost_pairs
from .hooks import attached_hook_count, conv_layer_names, hook_guard, layer_hooks, resolve_layers
from .images import ImageLoadError, load_image
from .layer_choice import (
    LayerChoice,
    most_alike_in_report,
    most_alike_layer,
    most_correlated_filters_layer,
    most_groupable_layer,
    most_uneven_flgc_layer,
)
from .linearconv_inspection import LinearConvInspection, inspect_linearconv
from .numeric_warnings import AnalysisWarning
from .ood import OODReading, OODReference, fit_reference, penultimate_features, penultimate_layer
from .pedconv_inspection import (
    PEDConvInspection,
    inspect_pedconv,
    inspect_pedconv_in_model,
    inspect_pedconv_layers,
    pedconv_image_dependence,
)
from .plan import KEEP, LayerProposal, SlimmingPlan, edit_plan, propose_plan
from .plan_evidence import LayerEvidence, measure_evidence
from .plan_outcome import (
    PlanOutcome,
    Proportion,
    accuracy,
    latency_comparison,
    layer_cka_to_original,
    plan_outcome,
    predicted_classes,
    top1_agreement,
)
from .report import RedundancyReport, redundancy_report
from .samples import PHOTO_SAMPLES, fashion_sample_names, has_sample_classes, sample_labels, sample_path
from .scores import (
    LayerRedundancyScores,
    effective_rank,
    layer_redundancy_scores,
    map_eigenvalues,
    participation_ratio,
    rebuildable_channel_share,
    similar_pair_share,
)
from .similarity import METRICS, ChannelSimilarity, channel_similarity, normalised_channels, per_image_similarity
from .spconv_inspection import (
    SPConvInspection,
    SplitScore,
    SplitWhatIf,
    inspect_spconv,
    inspect_spconv_in_model,
    split_what_if,
)

#: Imported on first use (analysis._lazy): the first page of the app needs none of them.
_LAZY = {
    **dict.fromkeys(("AttributionAgreement", "AttributionMaps", "AttributionMethod", "ChannelImportance", "GradCAM",
                     "IntegratedGradients", "Occlusion", "Saliency", "channel_importance", "compare_attributions"),
                    ".attribution"),
    **dict.fromkeys(("ImportanceRedundancy", "channel_redundancy", "importance_versus_redundancy"),
                    ".importance_redundancy"),
}


def __getattr__(name: str) -> object:
    return lazy_attribute(__name__, _LAZY, name)


__all__ = [
    "OODReading",
    "OODReference",
    "fit_reference",
    "penultimate_features",
    "penultimate_layer",
    "DEFAULT_MAX_VALUES_PER_IMAGE",
    "KEEP",
    "LayerEvidence",
    "LayerProposal",
    "SlimmingPlan",
    "Proportion",
    "accuracy",
    "edit_plan",
    "layer_cka_to_original",
    "predicted_classes",
    "top1_agreement",
    "measure_evidence",
    "propose_plan",
    "PlanOutcome",
    "plan_outcome",
    "latency_comparison",
    "fashion_sample_names",
    "PHOTO_SAMPLES",
    "has_sample_classes",
    "sample_labels",
    "sample_path",
    "METRICS",
    "AnalysisWarning",
    "AttributionAgreement",
    "AttributionMaps",
    "AttributionMethod",
    "CKAMap",
    "CapturedActivations",
    "ChannelClusters",
    "ChannelImportance",
    "ChannelSimilarity",
    "CheapRebuild",
    "FLGCInspection",
    "DenseGrouping",
    "dense_grouping",
    "FLGCSwitches",
    "FilterCorrelation",
    "FilterSpectrum",
    "GhostPairs",
    "GradCAM",
    "GroupStructure",
    "ImageLoadError",
    "ImportanceRedundancy",
    "IntegratedGradients",
    "LayerChoice",
    "LayerRedundancyScores",
    "LinearConvInspection",
    "Occlusion",
    "PEDConvInspection",
    "PrimaryRebuild",
    "RedundancyReport",
    "SPConvInspection",
    "Saliency",
    "SplitScore",
    "SplitWhatIf",
    "attached_hook_count",
    "bound_map_size",
    "capture_activations",
    "channel_importance",
    "channel_redundancy",
    "channel_similarity",
    "cka_from_grams",
    "cka_map",
    "cluster_channels",
    "compare_attributions",
    "conv_layer_names",
    "correlation_regulariser",
    "effective_rank",
    "filter_correlation",
    "filter_spectrum",
    "fit_affine",
    "fit_depthwise",
    "flgc_switches",
    "ghost_pairs",
    "gram_matrix",
    "group_structure",
    "hook_guard",
    "importance_versus_redundancy",
    "inspect_flgc",
    "inspect_linearconv",
    "inspect_pedconv",
    "inspect_pedconv_in_model",
    "inspect_pedconv_layers",
    "pedconv_image_dependence",
    "inspect_spconv",
    "inspect_spconv_in_model",
    "layer_grams",
    "layer_hooks",
    "layer_redundancy_scores",
    "linear_cka",
    "linearconv_params",
    "load_image",
    "map_eigenvalues",
    "most_alike_in_report",
    "most_alike_layer",
    "most_correlated_filters_layer",
    "most_uneven_flgc_layer",
    "most_groupable_layer",
    "model_cka_map",
    "normalised_channels",
    "participation_ratio",
    "per_image_similarity",
    "primaries_needed",
    "rebuildable_channel_share",
    "redundancy_report",
    "resolve_layers",
    "similar_pair_share",
    "split_what_if",
]
