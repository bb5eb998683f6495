"""Operator benchmark (live): one layer shape or a whole model, the chosen operators against dense, timed here."""

import streamlit as st

import lab
import slimconv
from lab.benchmark import (
    ARCHITECTURES,
    CHART_MAX_RATIO,
    loaded_model_comparison,
    operator_specs,
    ratio_chart,
    rows_table,
    run_with_progress,
)
from lab.models import available_devices
from lab.selection import MODEL_KEY
from slimconv.bench import BenchSetup, layer_comparison, model_comparison
from slimconv.bench.setup import DTYPES, MODES

RESULT_KEY = "bench_result"
SIDEBAR_MODEL = "the sidebar's model"
PAPER_PLACEMENT = "(as in the paper)"

st.title("Operator benchmark (live)")
st.markdown(
    "**What you are looking at:** one convolution layer of the shape you choose, or a whole model, built dense "
    "and with each operator (as trained, and fused to its deploy form), timed in interleaved rounds on this "
    "machine; each ratio is the median of per-round ratios against the dense baseline, with its 95% interval. "
    "**What to look for:** fewer MACs do not always mean less time: compare each ratio with its MAC ratio (the "
    "ideal) and the deploy form with the training form. FLGC's and PEDConv's training forms run the full dense "
    "computation: only their deploy forms say what you would ship."
)

scope = st.radio("Compare", ["One layer", "Whole model"], horizontal=True, key="bench_scope")
with st.form("bench_form"):
    shape = st.columns(6 if scope == "One layer" else [3, 2, 1, 1, 1, 1])
    if scope == "One layer":
        in_channels = shape[0].number_input("Input channels", 1, 2048, 64, key="bench_in")
        out_channels = shape[1].number_input("Output channels", 1, 2048, 64, key="bench_out")
        kernel_size = shape[2].selectbox("Kernel", [1, 3, 5, 7], index=1, key="bench_kernel")
        stride = shape[3].selectbox("Stride", [1, 2], key="bench_stride")
        size = shape[4].number_input("Height = width", 4, 512, 32, key="bench_size")
    else:
        loaded = st.session_state.get(MODEL_KEY)
        sources = ([f"{SIDEBAR_MODEL} ({loaded.label})"] if loaded is not None else []) + list(ARCHITECTURES)
        source = shape[0].selectbox("Model", sources, key="bench_model",
                                    help="Torchvision architectures are built with random weights: their speed "
                                         "does not depend on training.")
        placement = shape[1].selectbox("Placement", [PAPER_PLACEMENT, *slimconv.POLICIES], key="bench_policy")
        model_size = shape[2].number_input("Height = width", 32, 448, 224, key="bench_model_size",
                                           help="For torchvision architectures; the sidebar's model keeps its own.")
    batch_size = shape[5].number_input("Batch", 1, 256, 1, key="bench_batch")
    chosen = st.columns([3, 2])
    specs = chosen[0].text_input(
        "Operators (the CLI's syntax, separated by spaces)", "spconv:alpha=0.5 ghost", key="bench_ops",
        help=f"NAME or NAME:key=value,...; operators: {', '.join(slimconv.list_ops())}. "
             "Example: spconv:alpha=0.25 linearconv:variant=lowrank,rank=10 flgc:groups=8")
    forms = chosen[1].multiselect("Forms", ["train", "deploy"], default=["train", "deploy"], key="bench_forms")
    run_setup = st.columns(5)
    devices = available_devices()
    device = run_setup[0].selectbox("Device", devices, index=devices.index(st.session_state.get("device", "cpu")),
                                    key="bench_device")
    dtype = run_setup[1].selectbox("Dtype", list(DTYPES), key="bench_dtype")
    mode = run_setup[2].selectbox("Mode", list(MODES), key="bench_mode")
    budget = run_setup[3].slider("Time budget (s)", 5, 60, 15, key="bench_budget",
                                 help="Rounds are added until every ratio's interval is within ±5% or this is spent.")
    channels_last = run_setup[4].checkbox("channels_last", key="bench_channels_last")
    submitted = st.form_submit_button("Run the benchmark", type="primary")

if submitted:
    with lab.user_errors("run the benchmark"):
        if scope == "One layer":
            ops = operator_specs(specs, int(in_channels), int(out_channels), kernel_size)
            comparison = layer_comparison(ops, in_channels=int(in_channels), out_channels=int(out_channels),
                                          kernel_size=kernel_size, stride=stride, size=int(size),
                                          batch_size=int(batch_size), forms=forms)
        else:
            ops = operator_specs(specs)
            policy = None if placement == PAPER_PLACEMENT else placement
            if source.startswith(SIDEBAR_MODEL):
                comparison = loaded_model_comparison(loaded, ops, policy=policy, batch_size=int(batch_size),
                                                     forms=forms)
            else:
                comparison = model_comparison(source, ops, policy=policy, size=int(model_size),
                                              batch_size=int(batch_size), forms=forms)
        setup = BenchSetup(device=device, dtype=dtype, channels_last=channels_last, mode=mode, budget_s=float(budget))
        st.session_state[RESULT_KEY] = (comparison.name, f"{device}, {dtype}, {mode}",
                                        rows_table(run_with_progress(comparison, setup)))

if RESULT_KEY not in st.session_state:
    st.info("Choose a layer shape or a model and the operators, then run the benchmark.")
    st.stop()

name, where, table = st.session_state[RESULT_KEY]
st.subheader(lab.literal(f"{name} on {where}"))
for failed in table[table["error"].notna()].itertuples():
    st.warning(lab.literal(f"{failed.label} could not be measured: {failed.error}"))
noisy = table[table["noisy"] & table["error"].isna()]
if len(noisy):
    ratios = noisy[noisy.index != table.index[0]]  # the baseline's ratio is 1 by definition
    what = f"the ratios of {', '.join(ratios['label'])}" if len(ratios) else f"the time of {noisy['label'].iloc[0]}"
    st.warning(lab.literal(f"NOISY: do not trust {what}. {noisy['verdict'].iloc[0]}"))
if len(table[table["error"].isna()]) > 1:
    st.altair_chart(ratio_chart(table), use_container_width=True)
    st.caption(f"Black rules: the ratio's 95% interval (cut at {CHART_MAX_RATIO:g}x). Dashed line: as fast as the "
               "baseline. Hover a bar for its "
               "MAC ratio (the ideal) and verdict; the chart's menu saves it as PNG or SVG.")
lab.show_table(table, "benchmark")
