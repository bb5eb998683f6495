"""Every public name of analysis (and of analysis.attribution and analysis.figures) has an argument
test, valid and invalid inputs, or a reason not to.

A new public function makes ``test_every_public_name_is_covered_or_exempt`` fail until its argument
tests are named in ``COVERED`` (or it is listed in ``EXEMPT`` with the reason).
"""

from __future__ import annotations

import pytest

import analysis
import analysis.attribution
import analysis.figures

from .._arguments import check_coverage, check_tests_exist
from .test_arguments_figures import BUILDERS as ONE_RESULT_BUILDERS

PUBLIC = set(analysis.__all__) | set(analysis.attribution.__all__) | set(analysis.figures.__all__)

SIMILARITY = "tests.analysis.test_arguments_similarity"
CKA = "tests.analysis.test_arguments_cka"
WEIGHTS = "tests.analysis.test_arguments_weights"
CAPTURE = "tests.analysis.test_arguments_capture"
GHOST = "tests.analysis.test_arguments_ghost_pairs"
VIEWS = "tests.analysis.test_arguments_operator_views"
ATTRIBUTION = "tests.analysis.test_arguments_attribution"
FIGURES = "tests.analysis.test_arguments_figures"
LOAD_IMAGE = "tests.analysis.test_load_image"  # image files are that file's subject

SCORES = (
    f"{SIMILARITY}::test_scores_of_a_similarity_matrix_are_in_range",
    f"{SIMILARITY}::test_scores_reject_bad_matrices_and_thresholds",
)
ONE_IMAGE = (
    f"{SIMILARITY}::test_one_image_similarity_and_its_normalised_rows",
    f"{SIMILARITY}::test_one_image_functions_reject_bad_maps_and_metrics",
)
LAYER_SCORES = (
    f"{SIMILARITY}::test_layer_redundancy_scores_are_in_range",
    f"{SIMILARITY}::test_layer_scores_reject_what_is_not_the_similarity_of_the_maps",
)
CKA_OF_TENSORS = (
    f"{CKA}::test_cka_of_random_representations_is_in_range_and_one_for_itself",
    f"{CKA}::test_cka_rejects_bad_representations",
)
CKA_OF_MODELS = (
    f"{CKA}::test_layer_grams_and_cka_maps_of_a_model",
    f"{CKA}::test_layer_grams_rejects_bad_models_images_and_layers",
)
WEIGHT_ANALYSES = (
    f"{WEIGHTS}::test_weight_analyses_are_in_range",
    f"{WEIGHTS}::test_weight_analyses_reject_bad_weights_and_targets",
)
HOOKS = (
    f"{CAPTURE}::test_hooks_resolve_names_and_are_removed",
    f"{CAPTURE}::test_hook_functions_reject_bad_models_and_layer_names",
)
REPORT = (
    f"{CAPTURE}::test_redundancy_report_scores_every_convolution",
    f"{CAPTURE}::test_redundancy_report_rejects_each_bad_argument",
)
REBUILDS = (
    f"{GHOST}::test_cheap_rebuilds_fit_maps_of_one_shape",
    f"{GHOST}::test_cheap_rebuilds_reject_bad_maps_and_kernels",
)
SPCONV = (
    f"{VIEWS}::test_spconv_inspection_has_the_documented_shapes",
    f"{VIEWS}::test_layer_inspections_reject_other_layers_and_inputs",
    f"{VIEWS}::test_inspecting_in_a_model_rejects_bad_models_layers_and_images",
)
PEDCONV = (
    f"{VIEWS}::test_pedconv_inspection_has_the_documented_shapes",
    f"{VIEWS}::test_layer_inspections_reject_other_layers_and_inputs",
    f"{VIEWS}::test_inspecting_in_a_model_rejects_bad_models_layers_and_images",
)
FLGC = (
    f"{VIEWS}::test_flgc_inspection_and_switches",
    f"{VIEWS}::test_flgc_views_reject_other_layers_and_mismatched_checkpoints",
)
METHODS = (
    f"{ATTRIBUTION}::test_every_method_gives_one_heatmap_per_image",
    f"{ATTRIBUTION}::test_every_method_rejects_bad_images_and_targets",
    f"{ATTRIBUTION}::test_methods_reject_bad_models_and_options",
)
VERSUS = (
    f"{ATTRIBUTION}::test_importance_against_redundancy_of_one_layer",
    f"{ATTRIBUTION}::test_importance_against_redundancy_rejects_other_results",
)
ONE_RESULT_FIGURE = (
    f"{FIGURES}::test_random_valid_options_give_a_figure",
    f"{FIGURES}::test_bad_results_and_options_are_named",
)
ATTRIBUTION_FIGURES = (
    f"{FIGURES}::test_attribution_figures_with_random_options",
    f"{FIGURES}::test_attribution_figures_reject_bad_results_and_options",
)

PLAN = (
    "tests.analysis.test_plan::test_a_plan_picks_the_layer_whose_inputs_are_duplicated_channels",
    "tests.analysis.test_plan::test_an_edited_plan_predicts_again_and_convert_refuses_a_bad_entry",
)

NEW = "tests.analysis.test_arguments_ood_samples_outcome"
OOD = (f"{NEW}::test_the_reference_reads_its_own_classes_as_near_and_a_far_point_as_far",
       f"{NEW}::test_the_reference_refuses_a_class_without_images_and_features_of_another_width")
PENULTIMATE = (f"{NEW}::test_penultimate_features_are_the_classifier_input",
               f"{NEW}::test_penultimate_features_refuse_models_without_that_linear_layer")
SAMPLES = (f"{NEW}::test_samples_are_files_labelled_by_their_class",
           f"{NEW}::test_samples_refuse_names_that_are_not_bundled_and_photos_as_labelled_images")
OUTCOME = (f"{NEW}::test_the_outcome_of_a_model_against_itself_and_a_smaller_one",
           f"{NEW}::test_the_outcome_refuses_what_is_not_a_model_and_labels_of_another_length")
LAYER_CHOICE = (
    "tests.analysis.test_layer_choice::test_most_alike_layer_picks_the_copied_maps_and_says_why",
    "tests.analysis.test_layer_choice::test_choosers_on_a_resnet_and_its_flgc_conversion",
    "tests.analysis.test_layer_choice::test_no_plain_filters_is_a_clear_error",
)

COVERED: dict[str, tuple[str, ...]] = {
    "channel_similarity": (
        f"{SIMILARITY}::test_channel_similarity_is_a_bounded_c_by_c_summary",
        f"{SIMILARITY}::test_channel_similarity_rejects_bad_maps_and_metrics",
    ),
    "normalised_channels": ONE_IMAGE,
    "per_image_similarity": ONE_IMAGE,
    "similar_pair_share": SCORES,
    "rebuildable_channel_share": SCORES,
    "effective_rank": SCORES,
    "participation_ratio": SCORES,
    "map_eigenvalues": LAYER_SCORES,
    "layer_redundancy_scores": LAYER_SCORES,
    "cluster_channels": (
        f"{SIMILARITY}::test_cluster_channels_orders_every_channel_into_blocks",
        f"{SIMILARITY}::test_cluster_channels_rejects_bad_matrices_and_options",
    ),
    "gram_matrix": CKA_OF_TENSORS,
    "linear_cka": CKA_OF_TENSORS,
    "cka_from_grams": (*CKA_OF_TENSORS, f"{CKA}::test_cka_from_grams_rejects_bad_gram_matrices"),
    "layer_grams": CKA_OF_MODELS,
    "cka_map": (*CKA_OF_MODELS, f"{CKA}::test_cka_map_rejects_what_is_not_a_dict_of_gram_matrices"),
    "model_cka_map": (*CKA_OF_MODELS, f"{CKA}::test_model_cka_map_rejects_bad_models_and_too_few_images"),
    "filter_correlation": WEIGHT_ANALYSES,
    "correlation_regulariser": WEIGHT_ANALYSES,
    "filter_spectrum": WEIGHT_ANALYSES,
    "FilterSpectrum": WEIGHT_ANALYSES,  # rank_for_energy(energy_share)
    "primaries_needed": WEIGHT_ANALYSES,
    "linearconv_params": (
        f"{WEIGHTS}::test_linearconv_params_counts_primaries_and_coefficients",
        f"{WEIGHTS}::test_linearconv_params_rejects_bad_counts",
    ),
    "inspect_linearconv": (
        f"{WEIGHTS}::test_inspect_linearconv_splits_primaries_and_secondaries",
        f"{WEIGHTS}::test_inspect_linearconv_rejects_other_layers",
    ),
    "capture_activations": (
        f"{CAPTURE}::test_capture_keeps_what_every_named_layer_saw",
        f"{CAPTURE}::test_capture_rejects_each_bad_option",
        f"{CAPTURE}::test_capture_rejects_bad_models_images_and_layer_names",
    ),
    "CapturedActivations": (f"{CAPTURE}::test_was_subsampled_names_only_captured_layers",),
    "bound_map_size": (
        f"{CAPTURE}::test_bound_map_size_keeps_channels_and_respects_the_bound",
        f"{CAPTURE}::test_bound_map_size_rejects_bad_maps_and_limits",
    ),
    "conv_layer_names": HOOKS,
    "resolve_layers": HOOKS,
    "attached_hook_count": HOOKS,
    "hook_guard": HOOKS,
    "layer_hooks": (*HOOKS, f"{CAPTURE}::test_layer_hooks_reject_bad_callbacks_and_sides"),
    "redundancy_report": REPORT,
    "RedundancyReport": REPORT,  # column(score_name)
    "ghost_pairs": (
        f"{GHOST}::test_ghost_pairs_returns_the_most_alike_live_pairs",
        f"{GHOST}::test_ghost_pairs_rejects_bad_maps_and_options",
        f"{GHOST}::test_ghost_pairs_rejects_the_similarity_of_other_maps",
    ),
    "fit_affine": REBUILDS,
    "fit_depthwise": REBUILDS,
    "inspect_spconv": SPCONV,
    "inspect_spconv_in_model": SPCONV,
    "split_what_if": (
        f"{VIEWS}::test_split_what_if_scores_both_splits",
        f"{VIEWS}::test_split_what_if_rejects_bad_inputs_and_options",
    ),
    "inspect_pedconv": PEDCONV,
    "inspect_pedconv_in_model": PEDCONV,
    "pedconv_image_dependence": (
        f"{VIEWS}::test_image_dependence_finds_the_layer_that_adapts",
        f"{VIEWS}::test_image_dependence_rejects_bad_models_and_images",
    ),
    "inspect_pedconv_layers": (
        f"{VIEWS}::test_every_pedconv_layer_is_inspected_in_one_pass",
        f"{VIEWS}::test_image_dependence_rejects_bad_models_and_images",
    ),
    "group_structure": (
        f"{VIEWS}::test_group_structure_of_random_labels",
        f"{VIEWS}::test_group_structure_rejects_bad_labels_and_group_counts",
    ),
    "inspect_flgc": FLGC,
    "flgc_switches": FLGC,
    "Saliency": METHODS,
    "GradCAM": METHODS,
    "IntegratedGradients": METHODS,
    "Occlusion": METHODS,
    "channel_importance": (
        f"{ATTRIBUTION}::test_channel_importance_has_one_value_per_channel",
        f"{ATTRIBUTION}::test_channel_importance_rejects_bad_arguments",
    ),
    "compare_attributions": (
        f"{ATTRIBUTION}::test_compare_attributions_gives_bounded_agreement_per_image",
        f"{ATTRIBUTION}::test_compare_attributions_rejects_other_results_and_shares",
    ),
    "channel_redundancy": VERSUS,
    "importance_versus_redundancy": VERSUS,
    "load_image": (f"{LOAD_IMAGE}::test_bad_arguments", f"{LOAD_IMAGE}::test_bad_sources"),
    **{name: ONE_RESULT_FIGURE for name in ONE_RESULT_BUILDERS if name != "similarity_heatmap_figure"},
    "similarity_heatmap_figure": (
        *ONE_RESULT_FIGURE,
        f"{FIGURES}::test_similarity_heatmap_rejects_clusters_of_other_channels",
    ),
    "feature_map_grid_figure": (
        f"{FIGURES}::test_feature_map_grid_of_chosen_channels",
        f"{FIGURES}::test_feature_map_grid_rejects_bad_maps_and_options",
    ),
    "attribution_overlay_figure": ATTRIBUTION_FIGURES,
    "attribution_comparison_figure": ATTRIBUTION_FIGURES,
    # The slimming plan (issue 20): exercised with valid and refused inputs by its own tests.
    "KEEP": PLAN,
    "LayerEvidence": PLAN,
    "LayerProposal": PLAN,
    "Proportion": PLAN,
    "SlimmingPlan": PLAN,
    "accuracy": PLAN,
    "edit_plan": PLAN,
    "layer_cka_to_original": PLAN,
    "measure_evidence": PLAN,
    "predicted_classes": PLAN,
    "propose_plan": PLAN,
    "top1_agreement": PLAN,
    "OODReference": OOD,
    "OODReading": OOD,
    "fit_reference": OOD,
    "penultimate_layer": PENULTIMATE,
    "penultimate_features": PENULTIMATE,
    "fashion_sample_names": SAMPLES,
    "has_sample_classes": SAMPLES,
    "sample_labels": SAMPLES,
    "sample_path": SAMPLES,
    "PlanOutcome": OUTCOME,
    "plan_outcome": OUTCOME,
    "latency_comparison": OUTCOME,
    "LayerChoice": LAYER_CHOICE,
    "most_alike_layer": LAYER_CHOICE,
    "most_correlated_filters_layer": LAYER_CHOICE,
    "most_uneven_flgc_layer": LAYER_CHOICE,
    "most_groupable_layer": (
        "tests.analysis.test_dense_grouping::test_the_chooser_opens_on_the_layer_with_group_structure",),
    "dense_grouping": ("tests.analysis.test_dense_grouping::test_bad_arguments",),
    "most_alike_in_report": (
        "tests.analysis.test_layer_choice::test_most_alike_in_report_matches_the_forward_pass_chooser",),
    "make_legible": (
        f"{FIGURES.replace('arguments_', '')}::test_make_legible_raises_small_text_for_the_displayed_width",),
}

_CONSTANT = "a constant, not a callable"
_RESULT = "a result dataclass that analysis builds from checked arguments; no method takes user input"
EXEMPT: dict[str, str] = {
    "DEFAULT_MAX_VALUES_PER_IMAGE": _CONSTANT,
    "METRICS": _CONSTANT,
    "PHOTO_SAMPLES": _CONSTANT,
    "ImageLoadError": "an exception class: raised, never called with user input",
    "AnalysisWarning": "a warning class: issued, never called with user input",
    "AttributionMethod": "the abstract base of the four methods; its attribute() is tested through each of them",
    "AttributionAgreement": _RESULT,
    "AttributionMaps": _RESULT,
    "CKAMap": _RESULT,
    "ChannelClusters": _RESULT,
    "ChannelImportance": _RESULT,
    "ChannelSimilarity": _RESULT,
    "CheapRebuild": _RESULT,
    "FLGCInspection": _RESULT,
    "FLGCSwitches": _RESULT,
    "DenseGrouping": _RESULT,
    "FilterCorrelation": _RESULT,
    "GhostPairs": _RESULT,
    "GroupStructure": _RESULT,
    "ImportanceRedundancy": _RESULT,
    "LayerRedundancyScores": _RESULT,
    "LinearConvInspection": _RESULT,
    "PEDConvInspection": _RESULT,
    "PrimaryRebuild": _RESULT,
    "SPConvInspection": _RESULT,
    "SplitScore": _RESULT,
    "SplitWhatIf": _RESULT,
}


def test_every_public_name_is_covered_or_exempt():
    check_coverage(PUBLIC, COVERED, EXEMPT)


@pytest.mark.parametrize("name", sorted(COVERED))
def test_the_named_argument_tests_exist(name):
    check_tests_exist(COVERED[name])
