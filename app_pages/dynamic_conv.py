"""Dynamic convolution: PEDConv's per-image factors gamma, phi and psi."""

import pandas as pd
import streamlit as st

import analysis
import lab
from analysis.figures import pedconv_figure
from lab.cached_results import pedconv_inspections
from lab.trained_offer import offer_trained
from slimconv import PEDConv2d

FLAT_FACTORS = 1e-4  # a spread below this (on sigmoid outputs) is no perturbation at all
BARELY_ADAPTS = 5e-3  # a layer whose factors vary less than this over the images is nearly static

st.title("Dynamic convolution (PEDConv)")
EXPLANATION = (
    "**What you are looking at:** PEDConv keeps one shared weight per layer and perturbs it for each input: "
    "from the image's features it computes *gamma* (one factor per filter), *phi* (per input channel) and "
    "*psi* (over the k x k window), whose product rescales the shared weight. The bars show the factors for "
    "one image, the error bars their spread over all chosen images. **What to look for:** factors that vary "
    "across images mean the layer adapts its weight to the input; flat factors with no spread mean the "
    "dynamic part does little and a static convolution would do."
)
st.markdown(EXPLANATION)

model = lab.current_model()
images = lab.current_images()
modules = dict(model.model.named_modules())
pedconv_layers = [name for name in analysis.conv_layer_names(model.model) if isinstance(modules[name], PEDConv2d)]
if not pedconv_layers:
    st.warning(f"{lab.literal(model.label)} has no PEDConv layer. Load a PEDConv checkpoint, or choose "
               "**pedconv** under *Convert to operator* in the sidebar (a converted layer starts untrained).")
    offer_trained("pedconv")
    st.stop()

image_names = [item.name for item in images]
with lab.user_errors("inspect the PEDConv layers"):
    inspections = pedconv_inspections(model, images)
dependence = {name: found.image_dependence for name, found in inspections.items()}
# Open on the layer that adapts most: in a trained model only a few layers do.
most = max(pedconv_layers, key=lambda name: dependence.get(name, 0.0))
first_view = most if dependence.get(most, 0.0) > FLAT_FACTORS else pedconv_layers[0]
layer_column, image_column = st.columns(2)
layer = layer_column.selectbox("PEDConv layer", pedconv_layers, index=pedconv_layers.index(first_view),
                               key="pedconv_layer")
shown = image_column.selectbox("Image", range(len(images)), format_func=image_names.__getitem__, key="pedconv_image")
with lab.user_errors(f"inspect PEDConv layer {layer}"):
    if layer not in inspections:
        raise ValueError("it did not run in the forward pass, so it has no factors to show: the model skips it "
                         "in eval mode (an auxiliary head used only in training, for instance)")
inspection = inspections[layer]
lab.notebook_button("Dynamic convolution", EXPLANATION, model, images, {"layer": layer, "shown": shown})
factors = (inspection.gamma, inspection.phi, inspection.psi)
if all(float(f.max() - f.min()) < FLAT_FACTORS for f in factors):
    st.info(f"Every factor of {layer} has the same value ({float(inspection.gamma.flatten()[0]):.2f}) for every "
            "filter, channel, kernel position and image: this layer perturbs nothing. That is how a PEDConv layer "
            "starts (e.g. one converted on the fly); a trained one adapts its factors to the image.")
lab.show_figure("pedconv factors", pedconv_figure, inspection, image_index=shown, layer_name=layer,
                image_name=images[shown].name)
if len(images) > 1 and first_view == most:
    quiet = sum(value < BARELY_ADAPTS for value in dependence.values())
    st.caption(f"**How much each layer adapts** (mean standard deviation of its factors over the {len(images)} "
               f"images): {most} the most ({dependence[most]:.3f}); the page opens on it. {quiet} of "
               f"{len(dependence)} PEDConv layers vary by less than {BARELY_ADAPTS}: there the dynamic part "
               "hardly depends on the image, and a static convolution would do nearly the same.")
    with st.expander("Adaptation of every PEDConv layer"):
        lab.show_table(pd.DataFrame({"layer": list(dependence), "mean std of the factors over images":
                                     list(dependence.values())}), "adaptation of every PEDConv layer")
lab.show_table(pd.DataFrame(inspection.gamma[shown].T.numpy()).add_prefix("gamma, rank term ").rename_axis("filter")
              .reset_index(),
              f"gamma per filter for {image_names[shown]}")
