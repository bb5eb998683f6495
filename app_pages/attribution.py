"""Attribution: which pixels each method credits, how channel importance relates to redundancy, and
how two models' attributions compare."""

import streamlit as st

import analysis
import lab
from analysis.attribution.choices import METHODS
from analysis.figures import attribution_comparison_figure, attribution_overlay_figure, importance_redundancy_figure
from lab.attribution import attributions, channel_importance, display_batch, occlusion_estimate_s
from lab.bounds import shown_of
from lab.models import bundled_names, load_bundled

FIGURE_IMAGES = 4  # rows of the heatmap figures: more would not fit the page

st.title("Attribution")
EXPLANATION = (
    "**What you are looking at:** heatmaps over each image of the pixels that drive its predicted class, by "
    "several captum methods (saliency, integrated gradients, Grad-CAM on a layer, occlusion); then each channel "
    "of a layer placed by its importance (the class score lost when it is ablated) against its redundancy (its "
    "best similarity to another channel); then the same method on two models. **What to look for:** methods "
    "that agree on the object, redundant channels that matter less (a negative rank correlation), and whether "
    "an operator model looks at the same evidence as its dense counterpart."
)
st.markdown(EXPLANATION)

model = lab.current_model()
images = lab.current_images()
layers = analysis.conv_layer_names(model.model)
class_names = list(model.classes)

method_column, layer_column = st.columns([3, 2])
# the default only on the first visit: later the kept choice (app.KEPT_WIDGETS) is the value, and a default
# beside it would make Streamlit warn
methods = method_column.multiselect("Methods", METHODS, key="attr_methods",
                                    default=None if "attr_methods" in st.session_state else ["saliency", "Grad-CAM"])
layer = layer_column.selectbox("Layer (Grad-CAM, channel importance)", layers, index=len(layers) - 1,
                               key="attr_layer")
if not methods:
    st.info("Choose at least one method.")
    st.stop()
if "occlusion" in methods:
    with lab.user_errors("estimate the time of occlusion"):
        estimate = occlusion_estimate_s(model, images)
    st.caption(f"Occlusion runs the model once per window position for each of the {len(images)} images: about "
               f"{estimate:.0f} s here (estimated from one timed forward pass).")
lab.notebook_button("Attribution", EXPLANATION, model, images, {"methods": methods, "layer": layer})
if lab.asked_for("attributions", "Compute attributions", help="Runs captum on every chosen image"):
    with lab.user_errors("compute the attributions"):
        results = [attributions(model, images, method, layer) for method in methods]
        shown = display_batch(model, images)
    rows_note = shown_of(FIGURE_IMAGES, len(images), "images (the first ones; choose others in the sidebar)")
    lab.show_figure("attributions", attribution_overlay_figure, shown, results, class_names=class_names,
                    max_images=FIGURE_IMAGES, caption=rows_note)
    for note in filter(None, (result.blank_note() for result in results)):
        st.warning(lab.literal(note))

    st.subheader("Channel importance against redundancy")
    if st.button(f"Ablate every channel of {layer}", key="attr_importance"):
        with lab.user_errors(f"measure the channel importance of {layer}"):
            importance = channel_importance(model, images, layer)
            similarity = analysis.channel_similarity(lab.activations(model, images, [layer]).activations[layer])
            versus = analysis.importance_versus_redundancy(importance, similarity)
        st.metric("Spearman rank correlation", f"{versus.rank_correlation:+.2f}")
        lab.show_figure("importance against redundancy", importance_redundancy_figure, versus, layer_name=layer)

    st.subheader("Two models side by side")
    others = [name for name in bundled_names() if name != model.label]
    if not others:
        st.caption("Side by side needs a second checkpoint in the zoo.")
        st.stop()
    other_column, method_column = st.columns(2)
    other_name = other_column.selectbox("Second model", others, key="attr_other")
    method = method_column.selectbox("Method", [m for m in methods if m != "Grad-CAM"] or ["saliency"],
                                     key="attr_compare_method")
    with lab.user_errors(f"compare with {other_name}"):
        other = load_bundled(other_name, model.device)
        if other.input_size != model.input_size:
            raise ValueError(f"{other_name} takes {other.input_size} inputs and {model.label} {model.input_size}; "
                             "choose models with the same input size")
        first, second = attributions(model, images, method, layer), attributions(other, images, method, layer)
        agreement = analysis.compare_attributions(first, second)
    lab.show_figure("attribution comparison", attribution_comparison_figure, shown, first, second,
                    model_names=(model.label, other_name), agreement=agreement, max_images=FIGURE_IMAGES,
                    caption=rows_note)
