"""Overview: the idea, the model's per-layer cost, and the whole network's redundancy for the images."""

import pandas as pd
import streamlit as st

import analysis
import lab
from analysis.figures import redundancy_profile_figure
from lab.bounds import MAX_IMAGES_SHOWN, shown_of
from lab.honest_inputs import input_caption, model_view, ood_summary, untrained_note

IMAGES_PER_ROW = 6

st.title("Redundancy in convolutional networks")
EXPLANATION = (
    "Many channels of a trained CNN layer produce **feature maps that look alike**, and many of its **filters "
    "are correlated**: the layer spends parameters and compute on information it already has. SPConv, "
    "LinearConv, FLGC and PEDConv start from this observation and make convolutions that compute the "
    "redundant part cheaply.\n\n"
    "**What you are looking at:** the chosen model's cost per layer, and for the chosen images how redundant "
    "each layer's output is. **What to look for:** layers where many channel pairs are alike (high shares, top "
    "panel) and whose effective rank is far below their channel count (bottom panel)."
)
st.markdown(EXPLANATION)

model = lab.current_model()
images = lab.current_images()

st.subheader("Images, what the model sees, and its predictions")
drawn = images[:MAX_IMAGES_SHOWN]
st.caption(lab.literal(input_caption(model)))
for start in range(0, len(drawn), IMAGES_PER_ROW):
    for column, item in zip(st.columns(IMAGES_PER_ROW), drawn[start : start + IMAGES_PER_ROW], strict=False):
        with column, lab.user_errors(f"preprocess {item.name}"):
            # the name under the pair, over the column's width: under one 72-px image it broke mid-word
            st.image([item.image, model_view(model, item)], width=68)
            st.caption(lab.literal(item.name))
if note := shown_of(len(drawn), len(images), "images; the analyses use all of them"):
    st.caption(note)
if untrained := untrained_note(model):
    st.warning(untrained)
with lab.user_errors("classify the images"):
    table = lab.predictions(model, images)
    summary = ood_summary(model, images)
    if summary.readings is not None:
        table["distance from the training data"] = summary.readings
    if summary.note:
        st.warning(lab.literal(summary.note))
    elif summary.unavailable:
        st.caption(summary.unavailable)
    else:
        st.caption("Every image is within the range of the model's own test images (feature distance, "
                   "analysis.ood): its predictions are about images like those it was trained on.")
    lab.show_table(table, "predictions")

st.subheader("Cost per layer")
with lab.user_errors("profile the model"):
    profile = lab.profile_table(model)
params_column, macs_column = st.columns(2)
params_column.metric("Parameters", f"{profile.params:,}")
macs_column.metric("MACs per image", f"{profile.macs:,}")
lab.show_table(pd.DataFrame(profile.rows()), "parameters and MACs per layer")

st.subheader("Redundancy profile of the whole network")
metric_column, threshold_column, notebook_column = st.columns([3, 3, 2])  # the button label fits
metric = metric_column.selectbox("Similarity metric", analysis.METRICS, key="overview_metric")
threshold = threshold_column.slider("Alike when |similarity| is at least", 0.5, 0.99, 0.8, 0.01,
                                    key="overview_threshold")
with notebook_column:
    lab.notebook_button("Overview", EXPLANATION, model, images,
                        {"metric": metric, "threshold": threshold, "label": model.label})
if lab.asked_for("overview_profile", "Measure every layer", help="One forward pass with hooks on every convolution"):
    with lab.user_errors("measure the redundancy"):
        report = lab.network_report(model, images, metric, threshold)
    most_redundant = analysis.most_alike_in_report(report)
    st.caption(most_redundant.reason.replace("Pick any other layer above.",
                                             "Feature maps opens on it: see its maps and ghost pairs there."))
    lab.show_figure("redundancy profile", redundancy_profile_figure, report, model_name=model.label,
                    highlight=most_redundant.layer)
    lab.show_table(pd.DataFrame(report.to_rows()), "redundancy per layer")
