"""FLGC groups: which channels and filters each learned group holds, and what the grouping saves."""

import pandas as pd
import streamlit as st
from torch import nn

import analysis
import lab
import slimconv
from analysis.figures import dense_grouping_figure, flgc_groups_figure
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

DENSE_EXPLANATION = (
    "FLGC's filters each see only the channels of their group. Cutting a trained dense layer into groups keeps "
    "only the weights inside them: here, the balanced grouping that keeps the most of a layer's weight energy "
    "(found by a search, so a lower bound), against what the same search finds in the same weights shuffled "
    "(chance) and what a random grouping keeps. **What to look for:** whether the trained weights hold any group "
    "structure beyond chance. Where they hold none, a grouping cut after training loses most of the layer, and "
    "the grouping has to be learned during training: what FLGC does."
)
GROUP_COUNTS = [2, 4, 8]


def show_dense_grouping(model: lab.LoadedModel, modules: dict[str, nn.Module]) -> None:
    """How well a fixed grouping would fit the dense layers of a model without FLGC layers."""
    st.subheader("What a fixed grouping would keep of this dense model")
    st.markdown(DENSE_EXPLANATION)
    st.session_state.setdefault("dense_groups", 4)  # kept across pages: app.KEPT_WIDGETS
    count = st.selectbox("Groups", GROUP_COUNTS, key="dense_groups")
    candidates = [name for name in analysis.conv_layer_names(model.model) if type(modules[name]) is nn.Conv2d
                  and modules[name].groups == 1 and min(modules[name].in_channels, modules[name].out_channels) >= count]
    if not candidates:
        st.info(f"No dense convolution of this model has {count} or more input channels and filters to group.")
        return
    with lab.user_errors("find the layer a grouping fits best"):
        best = lab.groupable_layer(model, count, candidates)
    layer = lab.layer_picker("Dense layer", candidates, best, key="dense_group_layer")
    conv = modules[layer]
    with lab.user_errors(f"group the weights of {layer}"):
        grouping = lab.layer_grouping(model, layer, count)
    sizes = grouping.groups
    taps = conv.weight.shape[2] * conv.weight.shape[3]
    grouped_macs = taps * int((sizes.channels_per_group * sizes.filters_per_group).sum())
    shares = st.columns(4)
    shares[0].metric("Energy kept by the grouping found", f"{grouping.energy_kept:.0%}")
    shares[1].metric("Same search, shuffled weights", f"{grouping.shuffled_energy_kept:.0%}",
                     help="The mean over a few shuffles of the layer's energies: what the search finds by chance")
    shares[2].metric("Random grouping", f"{grouping.random_energy_kept:.0%}")
    dense_macs = taps * conv.in_channels * conv.out_channels
    shares[3].metric("MACs, grouped / dense", f"{grouped_macs / dense_macs:.0%}",
                     help=f"{grouped_macs:,} of {dense_macs:,} multiply-adds per output position")
    lab.show_figure("dense grouping", dense_grouping_figure, grouping, layer_name=layer)


model = lab.current_model()
modules = dict(model.model.named_modules())
flgc_layers = [name for name in analysis.conv_layer_names(model.model) if isinstance(modules[name], FLGConv2d)]
if not flgc_layers:
    st.info(f"{lab.literal(model.label)} has no FLGC layer. To see the groups FLGC learned, open the model trained "
            "with it, or choose **flgc** under *Convert to operator* in the sidebar with *Layers to convert* left at "
            "*(as in the paper)* (a converted layer starts from an untrained grouping).")
    offer_trained("flgc")
    show_dense_grouping(model, modules)
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
