"""Operator benchmark (live): one layer shape, the chosen operators against nn.Conv2d, timed here."""

import streamlit as st

import lab
import slimconv
from lab.benchmark import operator_options, rows_table, run_with_progress
from lab.models import available_devices
from slimconv.bench import BenchSetup, layer_comparison
from slimconv.bench.setup import DTYPES, MODES

RESULT_KEY = "bench_result"

st.title("Operator benchmark (live)")
st.markdown(
    "**What you are looking at:** one convolution layer of the shape you choose, built as `nn.Conv2d` and as "
    "each operator (as trained, and fused to its deploy form), timed interleaved on this machine. "
    "**What to look for:** fewer parameters and MACs do not always mean less time: compare the speed-up "
    "against `nn.Conv2d` with the MAC ratio, and the deploy form with the trained form. The achieved GFLOP/s "
    "show how well each operator uses the hardware."
)

with st.form("bench_form"):
    shape = st.columns(6)
    in_channels = shape[0].number_input("Input channels", 1, 2048, 64, key="bench_in")
    out_channels = shape[1].number_input("Output channels", 1, 2048, 64, key="bench_out")
    kernel_size = shape[2].selectbox("Kernel", [1, 3, 5, 7], index=1, key="bench_kernel")
    stride = shape[3].selectbox("Stride", [1, 2], key="bench_stride")
    size = shape[4].number_input("Height = width", 4, 512, 32, key="bench_size")
    batch_size = shape[5].number_input("Batch", 1, 256, 1, key="bench_batch")
    chosen = st.columns([3, 2])
    ops = chosen[0].multiselect("Operators", slimconv.list_ops(), default=["spconv", "ghost"], key="bench_ops")
    forms = chosen[1].multiselect("Forms", ["train", "deploy"], default=["train", "deploy"], key="bench_forms")
    options_json = st.text_input("Operator options (JSON, by operator)", '{"spconv": {"alpha": 0.5}}',
                                 key="bench_options")
    run_setup = st.columns(5)
    devices = available_devices()
    device = run_setup[0].selectbox("Device", devices, index=devices.index(st.session_state.get("device", "cpu")),
                                    key="bench_device")
    dtype = run_setup[1].selectbox("Dtype", list(DTYPES), key="bench_dtype")
    mode = run_setup[2].selectbox("Mode", list(MODES), key="bench_mode")
    budget = run_setup[3].slider("Time budget (s)", 5, 60, 15, key="bench_budget")
    channels_last = run_setup[4].checkbox("channels_last", key="bench_channels_last")
    submitted = st.form_submit_button("Run the benchmark", type="primary")

if submitted:
    with lab.user_errors("run the benchmark"):
        comparison = layer_comparison(operator_options(ops, options_json), in_channels=int(in_channels),
                                      out_channels=int(out_channels), kernel_size=kernel_size, stride=stride,
                                      size=int(size), batch_size=int(batch_size), forms=forms)
        setup = BenchSetup(device=device, dtype=dtype, channels_last=channels_last, mode=mode, budget_s=float(budget))
        st.session_state[RESULT_KEY] = (comparison.name, f"{device}, {dtype}, {mode}",
                                        rows_table(run_with_progress(comparison, setup)))

if RESULT_KEY not in st.session_state:
    st.info("Choose a layer shape and operators, then run the benchmark.")
    st.stop()

name, where, table = st.session_state[RESULT_KEY]
st.subheader(f"{name} on {where}")
for failed in table[table["error"].notna()].itertuples():
    st.warning(lab.literal(f"{failed.label} could not be measured: {failed.error}"))
lab.show_table(table, "benchmark")
measured = table[table["error"].isna()].set_index("label")
latency_column, speedup_column, throughput_column = st.columns(3)
with latency_column:
    st.caption("Median latency (ms)")
    st.bar_chart(measured["median_ms"], horizontal=True)
with speedup_column:
    st.caption("Time over nn.Conv2d's, paired per round (< 1 is faster; see the table's interval and noisy)")
    st.bar_chart(measured["ratio"], horizontal=True)
with throughput_column:
    st.caption("Achieved GFLOP/s (2 x MACs / median time)")
    st.bar_chart(measured["gflops_per_s"], horizontal=True)
st.caption("Each chart's menu (top right, on hover) saves it as PNG or SVG.")
