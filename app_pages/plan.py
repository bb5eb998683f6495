"""Plan: a per-layer slimming plan from measured redundancy, edited, applied by slimconv.convert and measured."""

import pandas as pd
import streamlit as st

import analysis
import lab
import slimconv
from analysis.tables import plan_cka_table, replaced_layers_table
from lab.outputs import LAYER_COLUMN
from lab.plan import (
    EDITABLE,
    apply_plan,
    cka_chart,
    current_applied,
    edited_plan,
    evaluation_kind,
    hand_edits,
    plan_table,
    proposal,
)
from lab.plan_run import BLOCK_TIME_S, can_finetune, finetune_of, finetune_planned, latency_of, measure_latency

BUDGETS = {"MAC share": "macs", "parameter share": "params", "none (measured redundancy only)": None}
LATENCY_BUDGET_S, LATENCY_BATCH, LATENCY_BATCHES = 8, 8, [1, 8, 32]
# 3 epochs of 2000 images (~40 s on 2 CPU cores) is where the untrained SPConv layers of the default plan first
# recover visibly (about 60-70% from 10%); 1 epoch of 1000 images recovers nothing.
TUNE_EPOCHS, TUNE_SUBSET = 3, 2000

st.title("Plan")
EXPLANATION = (
    "**What you are looking at:** for every dense convolution of the model, the operator its measured redundancy "
    "supports on the chosen images: SPConv's alpha from how many input channels are distinct, LinearConv's rank "
    "from the filter spectrum, FLGC's groups from the weight energy a grouping keeps, or *keep* where the layer "
    "is not redundant. *Risk* is how much of the layer the change does not cover before any training (0: fully "
    "supported; SPConv's layers start untrained whatever their risk, so they need the fine-tune). A budget takes "
    "the least risky changes first until the model reaches the target share. Edit the operator or its options "
    "in the table, apply the plan, and see what it costs and saves, measured. **What to look for:** how close "
    "the measured savings are to the predicted ones, whether the time saved follows the MACs, and how much of "
    "the original's predictions the planned model keeps before (and after) a short fine-tune."
)
st.markdown(EXPLANATION)

model = lab.current_model()
images = lab.current_images()

budget_column, target_column = st.columns(2)
budget_label = budget_column.radio("Budget", list(BUDGETS), key="plan_budget", horizontal=True)
budget = BUDGETS[budget_label]
target = target_column.slider("Target share of the model", 0.3, 1.0, 0.7, 0.05, key="plan_target",
                              disabled=budget is None, help="The planned model's MACs or parameters over the "
                              "original's; the least risky changes are taken first until it is reached")
if not lab.asked_for("plan_propose", "Propose a plan", help="One forward pass with hooks on every convolution, "
                     "then each candidate operator built and counted"):
    st.stop()
with lab.user_errors("propose a plan"):
    proposed = proposal(model, images, budget, target if budget else None)
plan = proposed

st.subheader("Proposed plan")
st.caption(f"Operators: keep, {', '.join(slimconv.list_ops())}. Options as key=value, comma-separated "
           "(e.g. alpha=0.5 or variant=lowrank,rank=6). Params and MACs are the proposal's; the totals below "
           "follow your edits.")
table = plan_table(proposed)
edited = st.data_editor(
    table, key=f"plan_editor_{model.key}_{budget}_{target}", hide_index=True, width="stretch",
    disabled=[column for column in table.columns if column not in EDITABLE],
    column_config={"layer": LAYER_COLUMN,
                   "op": st.column_config.SelectboxColumn("op", options=[analysis.KEEP, *slimconv.list_ops()],
                                                          required=True),
                   "options": st.column_config.TextColumn("options", help="key=value,key=value"),
                   "reason": st.column_config.TextColumn("reason", width="large")})
edit_error = None
try:
    plan = edited_plan(proposed, model, edited)
except ValueError as error:
    edit_error = str(error)
    st.error(lab.literal(f"This edit cannot be applied: {error}"))

params_column, macs_column, changed_column = st.columns(3)
params_column.metric("Predicted parameters", f"{plan.params_after:,}",
                     f"{plan.params_after / plan.params_before - 1:+.1%}", delta_color="inverse")
macs_column.metric("Predicted MACs per image", f"{plan.macs_after:,}",
                   f"{plan.macs_after / plan.macs_before - 1:+.1%}", delta_color="inverse")
changed_column.metric("Layers changed", f"{len(plan.changed)} of {len(plan.layers)}")

if not plan.changed:
    st.info("The plan keeps every layer, so there is nothing to apply: lower the target share, choose a budget, "
            "or set an operator in the table.")
apply_column, notebook_column = st.columns([3, 1])
if edit_error is None:
    with notebook_column:
        lab.notebook_button("Plan", EXPLANATION, model, images, {
            "budget": budget, "target": target if budget else None, "edits": hand_edits(proposed, plan),
            "changed": bool(plan.changed),
            "evaluation": evaluation_kind(model),
            "latency": {"batch": st.session_state.get("plan_latency_batch", LATENCY_BATCH),
                        "budget_s": st.session_state.get("plan_latency_budget", LATENCY_BUDGET_S),
                        "block_time_s": BLOCK_TIME_S},
            "finetune": {"epochs": st.session_state.get("plan_tune_epochs", TUNE_EPOCHS),
                         "subset": st.session_state.get("plan_tune_subset", TUNE_SUBSET)}
            if can_finetune(model) else None,
        })
if apply_column.button("Apply the plan", key="plan_apply", type="primary",
                       disabled=edit_error is not None or not plan.changed):
    with lab.user_errors("apply the plan"):
        apply_plan(model, plan, images)
applied = current_applied(model)
if applied is None:
    st.info("Apply the plan to convert the model and measure it against the original.")
    st.stop()

st.subheader("Before and after")
if applied.plan.mapping() != plan.mapping():
    st.warning("The table has changed since the plan below was applied: apply it again to measure your edits.")
outcome = applied.outcome
untrained = sorted({op for op, _ in applied.plan.mapping().values() if slimconv.get_op(op).starts_untrained})
if untrained:
    st.info(f"Replaced layers of {', '.join(untrained)} start "
            "untrained (nothing of the dense layer carries over), so the accuracy before fine-tuning can fall to "
            "chance: the short fine-tune below shows how much comes back.")
st.caption(f"Measured on {applied.evaluation}, without fine-tuning. Predicted: {applied.plan.params_after:,} "
           f"parameters and {applied.plan.macs_after:,} MACs; measured below on the converted model.")
before_column, after_column = st.columns(2)
with before_column:
    st.markdown(f"**Original** · {lab.literal(model.label)}")
    st.metric("Parameters", f"{outcome.params_before:,}")
    st.metric("MACs per image (deploy form)", f"{outcome.macs_before:,}")
    if outcome.accuracy_before is not None:
        st.metric("Accuracy", f"{outcome.accuracy_before.value:.1%}", help=str(outcome.accuracy_before))
with after_column:
    st.markdown(f"**Planned** · {len(applied.report.replaced)} layers replaced")
    st.metric("Parameters", f"{outcome.params_after:,}", f"{outcome.params_after / outcome.params_before - 1:+.1%}",
              delta_color="inverse")
    st.metric("MACs per image (deploy form)", f"{outcome.macs_after:,}",
              f"{outcome.macs_after / outcome.macs_before - 1:+.1%}", delta_color="inverse")
    if outcome.accuracy_after is not None:
        st.metric("Accuracy", f"{outcome.accuracy_after.value:.1%}", help=str(outcome.accuracy_after))
lab.show_table(pd.DataFrame(outcome.to_rows()), "plan outcome")

cka_column, layers_column = st.columns([3, 2])
with cka_column:
    st.caption("Debiased linear CKA of each convolution's output to the original's (1: the same representation "
               "up to rotation and scale). Replaced layers in orange.")
    st.altair_chart(cka_chart(plan_cka_table(outcome, applied.plan)), width="stretch")
with layers_column:
    lab.show_table(replaced_layers_table(applied.report), "changed layers")

st.subheader("Latency")
latency_settings = st.columns(3)
latency_budget = latency_settings[0].slider("Time budget (s)", 3, 30, LATENCY_BUDGET_S, key="plan_latency_budget")
batch_size = latency_settings[1].selectbox("Batch", LATENCY_BATCHES, index=LATENCY_BATCHES.index(LATENCY_BATCH),
                                            key="plan_latency_batch")
if latency_settings[2].button("Time both models", key="plan_latency"):
    with lab.user_errors("time the planned model"):
        measure_latency(applied, model, latency_budget, batch_size)
if (latency := latency_of(applied)) is not None:
    measured_batch, row = latency
    ratio_column, mac_column, share_column = st.columns(3)
    about = "~" if row.noisy else ""  # a noisy result is never shown as a plain number
    ratio_column.metric("Time, planned / original", f"{about}{row.ratio:.2f}",
                        help=f"95% interval {row.ratio_low:.2f}-{row.ratio_high:.2f}, paired over {row.rounds} "
                             "interleaved rounds")
    mac_column.metric("MACs, planned / original (the ideal)", f"{row.mac_ratio:.2f}")
    share_low, share_high = row.ideal_share_interval
    share_column.metric("Speed, share of what the MACs allow", f"{about}{row.ideal_share:.0%}",
                        help=f"95% interval {share_low:.0%}-{share_high:.0%} (from the time ratio's). MACs ratio "
                             "over time ratio: 100% when the time falls as much as the MACs do; under 100% when the "
                             "operator's extra steps cost more than its MACs say")
    verdict = (f"Deploy forms, batch {measured_batch}, {model.device}: ratio {row.ratio:.2f} (95% interval "
               f"{row.ratio_low:.2f}-{row.ratio_high:.2f}). {row.verdict}")
    (st.warning if row.noisy else st.success)(lab.literal(verdict))

st.subheader("Short fine-tune")
if not can_finetune(model):
    st.caption("Fine-tuning runs on Fashion-MNIST, for a model of its classes with 1 x 32 x 32 inputs (the zoo's).")
    st.stop()
tune_columns = st.columns(3)
epochs = tune_columns[0].slider("Epochs", 1, 5, TUNE_EPOCHS, key="plan_tune_epochs")
subset = tune_columns[1].slider("Training images", 500, 5000, TUNE_SUBSET, 500, key="plan_tune_subset")
if tune_columns[2].button("Fine-tune the planned model", key="plan_tune"):
    with lab.user_errors("fine-tune the planned model"):
        finetune_planned(applied, model, epochs, subset)
if (tuned := finetune_of(applied)) is not None:
    result = tuned.outcome
    st.caption(f"After {tuned.epochs} epoch(s) on {tuned.subset} Fashion-MNIST training images (Adam, the Train "
               f"page's loop), measured on {applied.evaluation}.")
    columns = st.columns(3)
    if result.accuracy_after is not None and outcome.accuracy_after is not None:
        columns[0].metric("Accuracy, fine-tuned", f"{result.accuracy_after.value:.1%}",
                          f"{result.accuracy_after.value - outcome.accuracy_after.value:+.1%} over the plan untuned",
                          help=str(result.accuracy_after))
    columns[1].metric("Top-1 agreement with the original", f"{result.agreement.value:.1%}",
                      f"{result.agreement.value - outcome.agreement.value:+.1%}", help=str(result.agreement))
    columns[2].metric("Test accuracy in training (last epoch)", f"{tuned.history[-1]['test_accuracy']:.1%}")
