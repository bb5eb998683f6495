"""Every public name of slimconv has an argument test (valid and invalid inputs) or a reason not to.

A new public function makes ``test_every_public_name_is_covered_or_exempt`` fail until its argument
tests are named in ``COVERED`` (or it is listed in ``EXEMPT`` with the reason).
"""

from __future__ import annotations

import pytest

import slimconv
import slimconv.models
import slimconv.ops
import slimconv.pretrained

from .._arguments import check_coverage, check_tests_exist

#: The CLIs' ``--op`` parser is public by use (both CLIs and scripts call it) though in no ``__all__``.
PUBLIC = (
    set(slimconv.__all__)
    | set(slimconv.ops.__all__)
    | set(slimconv.models.__all__)
    | set(slimconv.pretrained.__all__)
    | {"parse_op"}
)

CONVERT = "tests.slimconv.test_arguments_convert"
PROFILE = "tests.slimconv.test_arguments_profile"
MODELS = "tests.slimconv.test_arguments_models"
LOSSES = "tests.slimconv.test_arguments_losses"
PRETRAINED = "tests.slimconv.test_arguments_pretrained"
BATTERY = "tests.slimconv.test_ops_battery"
BASELINES = "tests.slimconv.test_baselines"
CHECKPOINT = "tests.slimconv.test_checkpoint"
# Each operator: the shared battery (random valid geometries; bad geometry) and its own bad options.
OPERATOR_BATTERY = (
    f"{BATTERY}::test_random_valid_configurations_match_conv2d_shape",
    f"{BATTERY}::test_bad_arguments_raise_value_error",
)
REFUSALS = f"{PRETRAINED}::test_pretrained_rejects_wrong_arguments"

COVERED: dict[str, tuple[str, ...]] = {
    "check_plan": ("tests.analysis.test_plan::test_an_edited_plan_predicts_again_and_convert_refuses_a_bad_entry",),
    "convert_by_plan": ("tests.analysis.test_plan::test_applying_a_plan_changes_exactly_the_planned_layers",
                        "tests.analysis.test_plan::test_an_edited_plan_predicts_again_and_convert_refuses_a_bad_entry"),
    "convert": (
        f"{CONVERT}::test_convert_replaces_what_the_policy_selects",
        f"{CONVERT}::test_convert_rejects_a_model_that_is_not_a_module",
        f"{CONVERT}::test_convert_rejects_unknown_operators",
        f"{CONVERT}::test_convert_rejects_unknown_policies",
        f"{CONVERT}::test_convert_rejects_flags_that_are_not_booleans",
        f"{CONVERT}::test_convert_rejects_options_the_operator_does_not_have",
        f"{CONVERT}::test_convert_passes_bad_option_values_on_as_value_errors",
    ),
    "default_policy": (
        f"{CONVERT}::test_default_policy_is_a_builtin_policy",
        f"{CONVERT}::test_default_policy_rejects_unknown_operators",
    ),
    "select_convs": (
        f"{CONVERT}::test_select_convs_names_convolutions_of_the_model",
        f"{CONVERT}::test_select_convs_rejects_bad_models_and_policies",
    ),
    "deploy": (
        f"{CONVERT}::test_deploy_fuses_every_operator_and_keeps_the_function",
        f"{CONVERT}::test_deploy_rejects_bad_models_and_flags",
    ),
    "conv_layers": (
        f"{CONVERT}::test_conv_layers_lists_dense_convs_and_operators_but_not_the_parts_of_an_operator",
        f"{CONVERT}::test_conv_layers_rejects_what_is_not_a_module",
    ),
    "deploy_form": (
        f"{CONVERT}::test_deploy_form_is_a_dense_model_itself_and_the_deploy_of_an_operator_model",
        f"{CONVERT}::test_deploy_form_rejects_bad_models_and_flags",
    ),
    "list_ops": (f"{CONVERT}::test_list_ops_is_sorted_names_each_of_which_get_op_knows",),
    "get_op": (f"{CONVERT}::test_get_op_and_create_conv_reject_unknown_operators",),
    "create_conv": (
        f"{BATTERY}::test_create_conv_returns_registered_class",
        f"{CONVERT}::test_get_op_and_create_conv_reject_unknown_operators",
    ),
    "register_op": (
        f"{CONVERT}::test_register_op_makes_an_operator_available",
        f"{CONVERT}::test_register_op_rejects_names_that_are_not_strings",
        f"{CONVERT}::test_register_op_decorates_operator_classes_only",
    ),
    "SlimConv2d": OPERATOR_BATTERY,
    "SPConv2d": (*OPERATOR_BATTERY, "tests.slimconv.test_spconv::test_bad_options_raise_value_error"),
    "FLGConv2d": (*OPERATOR_BATTERY, "tests.slimconv.test_flgc::test_bad_options_raise_value_error"),
    "LinearConv2d": (*OPERATOR_BATTERY, "tests.slimconv.test_linearconv::test_bad_options_raise_value_error"),
    "PEDConv2d": (*OPERATOR_BATTERY, "tests.slimconv.test_pedconv::test_bad_options_raise_value_error"),
    "GhostConv2d": (*OPERATOR_BATTERY, f"{BASELINES}::test_ghost_bad_options_raise_value_error"),
    "HetConv2d": (*OPERATOR_BATTERY, f"{BASELINES}::test_hetconv_bad_options_raise_value_error"),
    "OctConv2d": (*OPERATOR_BATTERY, f"{BASELINES}::test_octconv_bad_options_raise_value_error"),
    "count_params": (
        f"{PROFILE}::test_count_params_counts_every_weight",
        f"{PROFILE}::test_counts_reject_a_model_that_is_not_a_module",
    ),
    "count_training_only_params": (
        f"{PROFILE}::test_training_only_params_are_counted_apart",
        f"{PROFILE}::test_counts_reject_a_model_that_is_not_a_module",
    ),
    "count_macs": (
        f"{PROFILE}::test_count_macs_and_profile_of_one_conv",
        f"{PROFILE}::test_count_macs_and_profile_reject_malformed_input_sizes",
        f"{PROFILE}::test_an_input_size_with_other_channels_than_the_model_takes_is_named",
    ),
    "profile": (
        f"{PROFILE}::test_count_macs_and_profile_of_one_conv",
        f"{PROFILE}::test_count_macs_and_profile_reject_malformed_input_sizes",
        f"{PROFILE}::test_counts_reject_a_model_that_is_not_a_module",
    ),
    "measure_latency": (
        f"{PROFILE}::test_measure_latency_reports_its_setup",
        f"{PROFILE}::test_measure_latency_rejects_each_bad_argument_before_timing",
        f"{PROFILE}::test_measure_latency_rejects_bad_models_and_input_sizes",
    ),
    "create_model": (
        f"{MODELS}::test_create_model_builds_the_asked_input_and_output",
        f"{MODELS}::test_create_model_rejects_unknown_names",
        f"{MODELS}::test_create_model_rejects_bad_sizes",
        f"{MODELS}::test_create_model_rejects_weights_of_the_wrong_type",
        f"{MODELS}::test_create_model_rejects_unknown_operators_and_options_without_one",
    ),
    "list_models": (
        f"{MODELS}::test_list_models_starts_with_the_zoo",
        f"{MODELS}::test_list_models_rejects_a_flag_that_is_not_a_boolean",
    ),
    "parse_op": (
        f"{MODELS}::test_parse_op_reads_back_what_was_written",
        f"{MODELS}::test_parse_op_rejects_malformed_specs_for_argparse_and_python_callers",
    ),
    "flgc_balance_loss": (
        f"{LOSSES}::test_flgc_balance_loss_is_a_non_negative_scalar",
        f"{LOSSES}::test_training_terms_reject_a_model_that_is_not_a_module",
    ),
    "linearconv_correlation_loss": (
        f"{LOSSES}::test_linearconv_losses_are_non_negative_scalars",
        f"{LOSSES}::test_training_terms_reject_a_model_that_is_not_a_module",
    ),
    "linearconv_sparsity_loss": (
        f"{LOSSES}::test_linearconv_losses_are_non_negative_scalars",
        f"{LOSSES}::test_training_terms_reject_a_model_that_is_not_a_module",
    ),
    "linearconv_update_sparsity_masks": (
        f"{LOSSES}::test_sparsity_masks_are_updated_on_every_sparse_layer",
        f"{LOSSES}::test_sparsity_mask_step_size_is_checked_even_without_sparse_layers",
    ),
    "pedconv_auxiliary_loss": (
        f"{LOSSES}::test_pedconv_auxiliary_loss_is_a_non_negative_scalar",
        f"{LOSSES}::test_training_terms_reject_a_model_that_is_not_a_module",
    ),
    "InputSpec": (
        f"{PRETRAINED}::test_input_spec_makes_inputs_of_its_input_size",
        f"{PRETRAINED}::test_input_spec_rejects_values_out_of_range",
        f"{PRETRAINED}::test_preprocessing_rejects_what_is_not_a_pil_image",
        REFUSALS,
    ),
    "convert_mode": (
        f"{PRETRAINED}::test_preprocessing_rejects_what_is_not_a_pil_image",
        f"{PRETRAINED}::test_convert_mode_feeds_one_or_three_channels_only",
    ),
    "CheckpointMeta": (f"{PRETRAINED}::test_checkpoint_meta_needs_one_class_name_per_class", REFUSALS),
    "deployed_macs": (f"{PRETRAINED}::test_checkpoint_meta_needs_one_class_name_per_class",),
    "Pretrained": (f"{PRETRAINED}::test_predict_needs_at_least_one_class", REFUSALS),
    "read_checkpoint": (
        f"{PRETRAINED}::test_checkpoint_readers_reject_sources_that_are_not_files",
        f"{CHECKPOINT}::test_bad_input_case",
    ),
    "load_checkpoint": (
        f"{PRETRAINED}::test_checkpoint_readers_reject_sources_that_are_not_files",
        f"{CHECKPOINT}::test_bad_input_case",
    ),
    "export_safetensors": (
        f"{PRETRAINED}::test_checkpoint_readers_reject_sources_that_are_not_files",
        f"{CHECKPOINT}::test_safetensors_export_keeps_weights_and_metadata",
        REFUSALS,
    ),
    "save_checkpoint": (f"{CHECKPOINT}::test_saving_refuses_values_that_a_safe_load_would_reject", REFUSALS),
    "list_pretrained": (f"{PRETRAINED}::test_list_pretrained_of_a_missing_folder_is_empty", REFUSALS),
    "load_pretrained": (f"{PRETRAINED}::test_load_pretrained_rejects_names_it_does_not_bundle", REFUSALS),
    "build_model": (f"{CHECKPOINT}::test_operator_checkpoint_is_rebuilt_with_its_options", REFUSALS),
    "write_atomically": (REFUSALS,),
    "placement_note": (
        "tests.analysis.test_layer_choice::test_placement_note_says_where_flgc_goes_without_projections",),
}

_CONSTANT = "a constant, not a callable"
_ERROR = "an exception class: raised, never called with user input"
_RESULT = "a result record built by slimconv itself from checked arguments; no behaviour of its own"
EXEMPT: dict[str, str] = {
    "INFOMAX_LOSS_WEIGHT": _CONSTANT,
    "SPARSITY_UPDATE_EVERY": _CONSTANT,
    "POLICIES": _CONSTANT,
    "SlimconvError": _ERROR,
    "UnsupportedLayerError": _ERROR,
    "WeightsUnavailableError": _ERROR,
    "CheckpointError": _ERROR,
    "DatasetUnavailableError": _ERROR,
    "NonFiniteLossError": _ERROR,
    "ConvertReport": _RESULT,
    "ReplacedLayer": _RESULT,
    "SkippedLayer": _RESULT,
    "LatencyResult": _RESULT,
    "LayerProfile": _RESULT,
    "ProfileTable": _RESULT,
    "ModelProfile": _RESULT,
    "GroupSizes": _RESULT,
    "PEDAttention": _RESULT,
    "SPConvBranches": _RESULT,
    "CheckpointContents": _RESULT,
}


def test_every_public_name_is_covered_or_exempt():
    check_coverage(PUBLIC, COVERED, EXEMPT)


@pytest.mark.parametrize("name", sorted(COVERED))
def test_the_named_argument_tests_exist(name):
    check_tests_exist(COVERED[name])
