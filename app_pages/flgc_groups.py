"""FLGC groups: which channels and filters each learned group holds, and what the grouping saves."""

import pandas as pd
import streamlit as st

import analysis
import lab
import slimconv
from analysis.figures import flgc_groups_figure
from lab.benchmark import rows_table, run_with_progress
from lab.trained_offer import offer_trained
from slimconv import FLGConv2d
from slimconv.bench import BenchSetup, layer_comparison

st.title("FLGC groups")
EXPLANATION = (
    "**What you are looking at:** a Fully Learnable Group Convolution (Wang et al., 2019) learns which input "
    "channels and which filters belong to each group; a filter only sees the channels of its group. The "
    "assignment matrices, the group sizes and the mask sorted by group (blocks on the diagonal) show the "
    "grouping the training found. **What to look for:** unbalanced groups and *dead* filters (in a group without "
    "channels), and whether the theoretical MAC saving of the deployed grouped layer shows up in measured time."
)
st.markdown(EXPLANATION)

model = lab.current_model()
modules = dict(model.model.named_modules())
flgc_layers = [name for name in analysis.conv_layer_names(model.model) if isinstance(modules[name], FLGConv2d)]
if not flgc_layers:
    st.warning(f"{lab.literal(model.label)} has no FLGC layer. Load an FLGC checkpoint, or choose **flgc** "
               "under *Convert to operator* in the sidebar with *Layers to convert* left at *(as in the paper)* "
               "(a converted layer starts from an untrained grouping).")
    offer_trained("flgc")
    st.stop()

if note := slimconv.placement_note("flgc", model.model):
    st.caption(f"Placement: {note} (the zoo's FLGC model is trained so), hence these {len(flgc_layers)} FLGC layers.")
# Candidates have at least one input channel per group: a stem with fewer (1 channel, 4 groups) can only
# give filters of the other groups nothing to see, so it shows dead filters and little else.
candidates = [name for name in flgc_layers if modules[name].in_channels >= modules[name].groups] or flgc_layers
with lab.user_errors("find the most uneven FLGC layer"):
    most_uneven = analysis.most_uneven_flgc_layer(model.model, candidates)
layer = lab.layer_picker("FLGC layer", flgc_layers, most_uneven, key="flgc_layer")
with lab.user_errors(f"inspect FLGC layer {layer}"):
    inspection = analysis.inspect_flgc(modules[layer])
groups = inspection.groups
counts = st.columns(4)
counts[0].metric("Groups", groups.num_groups)
counts[1].metric("Dead filters", len(groups.dead_filters))
counts[2].metric("Unused channels", len(groups.unused_channels))
counts[3].metric("MACs per position, deployed / dense",
                 f"{inspection.deployed_macs_per_position:,} / {inspection.dense_macs_per_position:,}")
lab.show_figure("flgc groups", flgc_groups_figure, inspection, layer_name=layer)
lab.show_table(pd.DataFrame({"group": range(groups.num_groups), "channels": groups.channels_per_group.tolist(),
                             "filters": groups.filters_per_group.tolist()}), "group sizes")

st.subheader("Theoretical against measured savings")
st.caption("MACs per output position: dense, grouped as trained, and deployed (grouped convolution).")
lab.show_table(pd.DataFrame({
    "form": ["dense", "grouped as trained", "deployed"],
    "MACs per position": [inspection.dense_macs_per_position, inspection.grouped_macs_per_position,
                          inspection.deployed_macs_per_position],
}), "flgc costs")
st.caption(f"Weights: {inspection.dense_params:,} dense, {inspection.grouped_params:,} kept by the grouping.")
lab.notebook_button("FLGC groups", EXPLANATION, model, lab.current_images(), {"layer": layer})
if st.button("Measure this layer against nn.Conv2d", key="flgc_measure"):
    flgc = modules[layer]
    side = int(lab.layer_input(model, lab.current_images(), layer).shape[-1])
    with lab.user_errors("time the layer"):
        comparison = layer_comparison(
            [("flgc", {"groups": flgc.groups})], in_channels=flgc.in_channels, out_channels=flgc.out_channels,
            kernel_size=flgc.kernel_size, stride=flgc.stride, size=side,
            prepare=lambda built: built.load_state_dict(flgc.state_dict()))
        rows = run_with_progress(comparison, BenchSetup(device=model.device, budget_s=10.0, block_time_s=0.02))
    lab.show_table(rows_table(rows), "flgc measured")
