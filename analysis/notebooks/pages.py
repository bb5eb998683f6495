"""The code of each lab page's analysis, as notebook cells: the same library calls with the page's choices.

Each recipe takes the page's options (a mapping of plain values) and returns ``(kind, text)`` cells; values
enter the code as literals (``repr``). The page's explanation comes first, given by the page itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .source import ModelSource, model_code

Cell = tuple[str, str]


def _code(*lines: str) -> Cell:
    return ("code", "\n".join(lines))


def _note(text: str) -> Cell:
    return ("markdown", text)


def overview(options: Mapping[str, Any]) -> list[Cell]:
    return [
        _note("## Predictions"),
        _code("with torch.no_grad():",
              "    probabilities = model(batch).softmax(dim=1)",
              "best, index = probabilities.max(dim=1)",
              "pd.DataFrame({'image': image_names, 'predicted class': [model_classes[i] for i in index.tolist()],",
              "              'probability': best.tolist()})"),
        _note("## Cost per layer (training form, one image)"),
        _code("profile = slimconv.profile(model, INPUT_SIZE).training",
              "print(f'Parameters: {profile.params:,}')",
              "print(f'MACs per image: {profile.macs:,}')",
              "pd.DataFrame(profile.rows())"),
        _note("## Redundancy profile of the whole network"),
        _code(f"METRIC, THRESHOLD = {options['metric']!r}, {options['threshold']!r}",
              "report = analysis.redundancy_report(model, batch, metric=METRIC, threshold=THRESHOLD)",
              "most_redundant = analysis.most_alike_in_report(report)",
              "print(most_redundant.reason)",
              f"figures.redundancy_profile_figure(report, model_name={options['label']!r}, "
              "highlight=most_redundant.layer)"),
        _code("pd.DataFrame(report.to_rows())"),
    ]


def feature_maps(options: Mapping[str, Any]) -> list[Cell]:
    return [
        _code(f"LAYER, METRIC, THRESHOLD = {options['layer']!r}, {options['metric']!r}, {options['threshold']!r}",
              f"SHOWN, PAIRS, MAX_MAPS = {options['shown']!r}, {options['pairs']!r}, {options['max_maps']!r}",
              "captured = analysis.capture_activations(model, batch, [LAYER])",
              "maps = captured.activations[LAYER]",
              "similarity = analysis.channel_similarity(maps, METRIC)",
              "clusters = analysis.cluster_channels(similarity, threshold=THRESHOLD)",
              "scores = analysis.layer_redundancy_scores(similarity, THRESHOLD, maps=maps)",
              "print(f'{clusters.num_clusters} clusters among {similarity.channels} channels.')"),
        _code("figures.feature_map_grid_figure(maps[SHOWN], channels=clusters.order, max_maps=MAX_MAPS, "
              "layer_name=LAYER)"),
        _code("figures.similarity_heatmap_figure(similarity, clusters, layer_name=LAYER)"),
        _note("## Redundancy scores"),
        _code("tables.redundancy_scores_table(maps, scores, image_names, METRIC, THRESHOLD)"),
        _note("## Ghost pairs: the most alike channels, rebuilt cheaply"),
        _code("pairs = analysis.ghost_pairs(maps, similarity=similarity, metric=METRIC, num_pairs=PAIRS, "
              "example_image=SHOWN)",
              "figures.ghost_pairs_figure(pairs, max_pairs=PAIRS)"),
        _code("tables.ghost_pairs_table(pairs)"),
    ]


def filters(options: Mapping[str, Any]) -> list[Cell]:
    layer = _code(f"LAYER = {options['layer']!r}", "module = dict(model.named_modules())[LAYER]")
    if options.get("linearconv"):
        return [layer, _code("inspection = analysis.inspect_linearconv(module)",
                             "print(f'Primary filters: {inspection.num_primaries}')",
                             "print(f'Secondary filters: {inspection.num_secondaries}')",
                             "print(f'Correlation regulariser: {inspection.regulariser:.3g}')",
                             "figures.linearconv_figure(inspection, layer_name=LAYER)"),
                _code("pd.DataFrame(inspection.coefficients.numpy()).add_prefix('primary ')")]
    return [
        layer,
        _code(f"R2_TARGET, MAX_FILTERS = {options['r2_target']!r}, {options['max_filters']!r}",
              "weight = module.weight.detach()",
              "correlation = analysis.filter_correlation(weight)",
              "spectrum = analysis.filter_spectrum(weight)",
              "rebuild = analysis.primaries_needed(weight, R2_TARGET)",
              "print(f'Filters: {weight.shape[0]}')",
              "print(f'Effective rank: {spectrum.effective_rank:.1f}')",
              "print(f'Primaries for R2 >= {R2_TARGET:g}: {rebuild.primaries_needed}')",
              "print(f'Parameters saved by LinearConv: {rebuild.params_saved:,}')"),
        _code("figures.filter_correlation_figure(correlation, order=rebuild.primary_order[:MAX_FILTERS], "
              "layer_name=LAYER)"),
        _code("figures.spectrum_figure(spectrum, layer_name=LAYER)"),
        _code("figures.primaries_figure(rebuild, layer_name=LAYER)"),
        _code("pd.DataFrame({'singular value': spectrum.singular_values.tolist(),",
              "              'cumulative energy': spectrum.cumulative_energy.tolist()})"),
    ]


def spconv_split(options: Mapping[str, Any]) -> list[Cell]:
    cells = []
    if options.get("spconv_layer"):
        cells += [
            _note("## Both branches of an SPConv layer and their fusion weights"),
            _code(f"SPCONV_LAYER, SHOWN = {options['spconv_layer']!r}, {options['shown']!r}",
                  "inspection = analysis.inspect_spconv_in_model(model, SPCONV_LAYER, batch)",
                  "print(f'Representative channels: {len(inspection.representative_channels)}')",
                  "print(f'Redundant channels: {len(inspection.redundant_channels)}')",
                  "figures.spconv_figure(inspection, image_index=SHOWN, layer_name=SPCONV_LAYER)"),
            _code("pd.DataFrame({'output channel': range(inspection.beta.shape[1]),",
                  "              'beta (representative)': inspection.beta[SHOWN].tolist(),",
                  "              'gamma (redundant)': inspection.gamma[SHOWN].tolist()})"),
        ]
    return cells + [
        _note("## What if a dense layer were an SPConv?"),
        _code(f"DENSE_LAYER, ALPHA, METRIC = {options['dense_layer']!r}, {options['alpha']!r}, {options['metric']!r}",
              "inputs = analysis.capture_activations(model, batch, [DENSE_LAYER], of='input').activations[DENSE_LAYER]",
              "what_if = analysis.split_what_if(inputs, ALPHA, metric=METRIC)",
              "figures.split_what_if_figure(what_if, layer_name=DENSE_LAYER)"),
        _code("tables.split_scores_table(what_if)"),
    ]


def flgc_groups(options: Mapping[str, Any]) -> list[Cell]:
    return [
        _code(f"LAYER = {options['layer']!r}",
              "inspection = analysis.inspect_flgc(dict(model.named_modules())[LAYER])",
              "groups = inspection.groups",
              "print(f'Groups: {groups.num_groups}, dead filters: {len(groups.dead_filters)}, '",
              "      f'unused channels: {len(groups.unused_channels)}')",
              "figures.flgc_groups_figure(inspection, layer_name=LAYER)"),
        _code("pd.DataFrame({'group': range(groups.num_groups), 'channels': groups.channels_per_group.tolist(),",
              "              'filters': groups.filters_per_group.tolist()})"),
        _note("## Theoretical savings: MACs per output position"),
        _code("pd.DataFrame({'form': ['dense', 'grouped as trained', 'deployed'],",
              "              'MACs per position': [inspection.dense_macs_per_position,",
              "                                    inspection.grouped_macs_per_position,",
              "                                    inspection.deployed_macs_per_position]})"),
    ]


def dynamic_conv(options: Mapping[str, Any]) -> list[Cell]:
    return [
        _code(f"LAYER, SHOWN = {options['layer']!r}, {options['shown']!r}",
              "inspections = analysis.inspect_pedconv_layers(model, batch)",
              "inspection = inspections[LAYER]",
              "figures.pedconv_figure(inspection, image_index=SHOWN, layer_name=LAYER)"),
        _note("## How much each PEDConv layer adapts (mean std of its factors over the images)"),
        _code("pd.DataFrame({'layer': list(inspections),",
              "              'mean std of the factors over images': [found.image_dependence "
              "for found in inspections.values()]})"),
    ]


def attribution(options: Mapping[str, Any]) -> list[Cell]:
    return [
        _code("from analysis.attribution.choices import attribution_method",
              "",
              f"METHODS, LAYER = {list(options['methods'])!r}, {options['layer']!r}",
              "results = [attribution_method(method, model, LAYER, INPUT_SIZE).attribute(batch) for method in METHODS]",
              "shown = batch.expand(-1, 3, -1, -1) if batch.shape[1] == 1 else batch",
              "figures.attribution_overlay_figure(shown, results, class_names=model_classes)"),
    ]


def compare_models(options: Mapping[str, Any]) -> list[Cell]:
    other: ModelSource = options["other"]
    return [
        _note("## The second model"),
        _code(model_code(other, "other")),
        _code(f"DEBIASED = {options['debiased']!r}",
              "cka_map = analysis.model_cka_map(model, other, batch, debiased=DEBIASED)",
              f"figures.cka_figure(cka_map, model_a_name={options['label']!r}, "
              f"model_b_name={options['other_label']!r})"),
    ]


def _evaluation(options: Mapping[str, Any]) -> Cell:
    if options["evaluation"] == "fashion":
        return _code("# the bundled Fashion-MNIST test images, labelled: accuracy as well as agreement",
                     "eval_names = analysis.fashion_sample_names()",
                     "eval_batch = torch.cat([model_preprocess(analysis.load_image(analysis.sample_path(name)"
                     ".read_bytes()))",
                     "                        for name in eval_names])",
                     "labels = analysis.sample_labels(eval_names, model_classes)")
    return _code("# the images above, unlabelled: agreement with the original, no accuracy",
                 "eval_batch, labels = batch, None")


def plan(options: Mapping[str, Any]) -> list[Cell]:
    latency, finetune = options["latency"], options["finetune"]  # finetune: None where it cannot run
    cells = [
        _note("## The proposed plan, with the table's edits"),
        _code(f"BUDGET, TARGET = {options['budget']!r}, {options['target']!r}",
              "plan = analysis.propose_plan(model, batch, budget=BUDGET, target=TARGET)",
              "# layer -> (operator or 'keep', options): the rows edited by hand on the page",
              f"EDITS = {dict(options['edits'])!r}",
              "plan = analysis.edit_plan(plan, model, EDITS)",
              "print(f'Predicted parameters: {plan.params_after:,} of {plan.params_before:,}')",
              "print(f'Predicted MACs per image: {plan.macs_after:,} of {plan.macs_before:,}')",
              "print(f'Layers changed: {len(plan.changed)} of {len(plan.layers)}')",
              "pd.DataFrame(plan.to_rows())"),
    ]
    if not options["changed"]:
        return cells + [_note("The plan keeps every layer, so there is nothing to apply: lower the target share, "
                              "choose a budget, or set an operator in `EDITS`.")]
    cells += [
        _note("## Applied by `slimconv.convert`, measured against the original (no fine-tuning)"),
        _code("planned, report = slimconv.convert(model, plan.mapping(), return_report=True)",
              "planned.eval()",
              "tables.replaced_layers_table(report)"),
        _evaluation(options),
        _code("outcome = analysis.plan_outcome(model, planned, eval_batch, labels)",
              "print(f'Top-1 agreement with the original: {outcome.agreement}')",
              "pd.DataFrame(outcome.to_rows())"),
        _code("cka = tables.plan_cka_table(outcome, plan).set_index('layer')",
              "cka['CKA to the original'].plot.bar(color=cka['replaced'].map({False: '#4c78a8', True: '#f58518'}),",
              "                                    ylim=(0, 1), figsize=(10, 3),",
              "                                    title='Debiased linear CKA to the original (replaced in orange)');"),
        _note("## Latency: both deploy forms timed interleaved, on this machine"),
        _code("from slimconv.bench import BenchSetup, run_comparison",
              "",
              f"BATCH, TIME_BUDGET_S = {latency['batch']!r}, {latency['budget_s']!r}",
              "comparison = analysis.latency_comparison(model, planned, INPUT_SIZE, batch_size=BATCH)",
              "setup = BenchSetup(device=str(next(model.parameters()).device), budget_s=TIME_BUDGET_S, "
              f"block_time_s={latency['block_time_s']!r})",
              "row = run_comparison(comparison, setup)[1]",
              "print(f'Time, planned / original: {row.ratio:.2f} (95% interval {row.ratio_low:.2f}-'",
              "      f'{row.ratio_high:.2f}); MACs, planned / original: {row.mac_ratio:.2f}. {row.verdict}')"),
    ]
    if finetune is not None:
        cells += [
            _note("## A short fine-tune on Fashion-MNIST (the page's loop)\n\nSet `FINETUNE = True` to run it: it "
                  "reads or downloads Fashion-MNIST and trains a copy of the planned model (about 40 s for 3 epochs "
                  "of 2000 images on 2 CPU cores)."),
            _code(f"FINETUNE, EPOCHS, SUBSET = False, {finetune['epochs']!r}, {finetune['subset']!r}",
                  "if FINETUNE:",
                  "    from slimconv.train.finetune import finetune, short_finetune_config",
                  "",
                  "    tuned, history = finetune(planned, short_finetune_config(EPOCHS, SUBSET))",
                  "    tuned_outcome = analysis.plan_outcome(model, tuned, eval_batch, labels)",
                  "    print(f'Fine-tuned: accuracy {tuned_outcome.accuracy_after}, '",
                  "          f'top-1 agreement with the original {tuned_outcome.agreement}')",
                  "    display(pd.DataFrame(history))"),
        ]
    return cells


RECIPES: dict[str, Callable[[Mapping[str, Any]], list[Cell]]] = {
    "Overview": overview, "Feature maps": feature_maps, "Filters": filters, "SPConv split": spconv_split,
    "FLGC groups": flgc_groups, "Dynamic convolution": dynamic_conv, "Attribution": attribution,
    "Compare models": compare_models, "Plan": plan,
}
