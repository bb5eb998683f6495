"""SPConv split: representative and redundant input channels, both branches and their fusion."""

import pandas as pd
import streamlit as st

import analysis
import lab
from analysis.figures import spconv_figure, split_what_if_figure
from analysis.tables import split_scores_table
from lab.bounds import shown_of
from lab.cached_results import spconv_inspection
from lab.trained_offer import offer_trained
from slimconv import SPConv2d

st.title("SPConv split")
SPCONV_FIGURE_CHANNELS = 8  # output channels drawn in the branch maps
EXPLANATION = (
    "**What you are looking at:** SPConv (Zhang et al., 2020) splits a layer's input channels into a "
    "*representative* part, convolved with a full 3x3, and a *redundant* part, handled by a cheap 1x1; the two "
    "branch outputs are fused per output channel with weights beta and gamma computed from the image. For a "
    "dense layer, the what-if compares the paper's split (the first channels) with a split that picks cluster "
    "medoids by similarity. **What to look for:** how well the representatives rebuild the redundant channels "
    "(R² near 1: little is lost), and whether the similarity split keeps more than the positional one."
)
st.markdown(EXPLANATION)

model = lab.current_model()
images = lab.current_images()
modules = dict(model.model.named_modules())
layers = analysis.conv_layer_names(model.model)
spconv_layers = [name for name in layers if isinstance(modules[name], SPConv2d)]
image_names = [item.name for item in images]

if spconv_layers:
    layer = st.selectbox("SPConv layer", spconv_layers, key="spconv_layer")
    shown = st.selectbox("Image", range(len(images)), format_func=image_names.__getitem__, key="spconv_image")
    with lab.user_errors(f"inspect SPConv layer {layer}"):
        inspection = spconv_inspection(model, images, layer)
    representative, redundant, alpha = st.columns(3)
    representative.metric("Representative channels", len(inspection.representative_channels))
    redundant.metric("Redundant channels", len(inspection.redundant_channels))
    alpha.metric("alpha", f"{inspection.alpha:g}")
    outputs_note = shown_of(SPCONV_FIGURE_CHANNELS, int(inspection.beta.shape[1]),
                            "output channels in the branch maps; the table has them all")
    lab.show_figure("spconv branches", spconv_figure, inspection, image_index=shown, layer_name=layer,
                    image_name=images[shown].name, max_channels=SPCONV_FIGURE_CHANNELS, caption=outputs_note)
    lab.show_table(pd.DataFrame({"output channel": range(inspection.beta.shape[1]),
                                 "beta (representative)": inspection.beta[shown].tolist(),
                                 "gamma (redundant)": inspection.gamma[shown].tolist()}), "fusion weights")
    st.divider()
    st.caption("The what-if below applies to the dense layers of this model.")

else:
    st.caption(f"{lab.literal(model.label)} has no SPConv layer: choose **spconv** under *Convert to operator* "
               "in the sidebar (or load an SPConv checkpoint) to see both branches and the fusion weights.")
    offer_trained("spconv")

dense_layers = [name for name in layers if not isinstance(modules[name], SPConv2d)
                and getattr(modules[name], "in_channels", 1) > 1]
if not dense_layers:
    st.info("Every convolution of this model is an SPConv; the what-if needs a dense layer.")
    st.stop()
st.subheader("What if a dense layer were an SPConv?")
with lab.user_errors("find the dense layer with the most alike input channels"):
    most_alike_input = lab.alike_layer(model, images, "pearson", 0.8, of="input", layers=dense_layers)
layer_column, alpha_column, metric_column = st.columns(3)
dense_layer = lab.layer_picker("Dense layer", dense_layers, most_alike_input, key="spconv_dense_layer",
                               where=layer_column)
st.session_state.setdefault("spconv_alpha", 0.5)  # kept across pages (app.KEPT_WIDGETS): shown as used
alpha = alpha_column.slider("alpha (share of representative channels)", 0.1, 0.9, step=0.05, key="spconv_alpha")
metric = metric_column.selectbox("Similarity metric", analysis.METRICS, key="spconv_metric")
with lab.user_errors(f"split the input of {dense_layer}"):
    what_if = analysis.split_what_if(lab.layer_input(model, images, dense_layer), alpha, metric=metric)
lab.show_figure("split what-if", split_what_if_figure, what_if, layer_name=dense_layer)
lab.show_table(split_scores_table(what_if), "split scores")
lab.notebook_button("SPConv split", EXPLANATION, model, images,
                    {"spconv_layer": layer if spconv_layers else None, "shown": shown if spconv_layers else 0,
                     "dense_layer": dense_layer, "alpha": alpha, "metric": metric})
