"""Overview: the idea, the model's per-layer cost, and the whole network's redundancy for the images."""

import pandas as pd
import streamlit as st

import analysis
import lab
from analysis.figures import redundancy_profile_figure
from lab.bounds import MAX_IMAGES_SHOWN, shown_of

st.title("Redundancy in convolutional networks")
st.markdown(
    "Many channels of a trained CNN layer produce **feature maps that look alike**, and many of its **filters "
    "are correlated**: the layer spends parameters and compute on information it already has. SPConv, "
    "LinearConv, FLGC and PEDConv start from this observation and make convolutions that compute the "
    "redundant part cheaply.\n\n"
    "**What you are looking at:** the chosen model's cost per layer, and for the chosen images how redundant "
    "each layer's output is. **What to look for:** layers where many channel pairs are alike (high shares, top "
    "panel) and whose effective rank is far below their channel count (bottom panel)."
)

model = lab.current_model()
images = lab.current_images()

left, right = st.columns([1, 2])
with left:
    st.subheader("Images and predictions")
    drawn = images[:MAX_IMAGES_SHOWN]
    st.image([item.image for item in drawn], caption=[lab.literal(item.name) for item in drawn], width=96)
    if note := shown_of(len(drawn), len(images), "images; the analyses use all of them"):
        st.caption(note)
    with lab.user_errors("classify the images"):
        lab.show_table(lab.predictions(model, images), "predictions")
with right:
    st.subheader("Cost per layer")
    with lab.user_errors("profile the model"):
        table = lab.profile_table(model)
    params_column, macs_column = st.columns(2)
    params_column.metric("Parameters", f"{table.params:,}")
    macs_column.metric("MACs per image", f"{table.macs:,}")
    lab.show_table(pd.DataFrame(table.rows()), "parameters and MACs per layer")

st.subheader("Redundancy profile of the whole network")
metric_column, threshold_column = st.columns(2)
metric = metric_column.selectbox("Similarity metric", analysis.METRICS, key="overview_metric")
threshold = threshold_column.slider("Alike when |similarity| is at least", 0.5, 0.99, 0.8, 0.01,
                                    key="overview_threshold")
if lab.asked_for("overview_profile", "Measure every layer", help="One forward pass with hooks on every convolution"):
    with lab.user_errors("measure the redundancy"):
        report = lab.network_report(model, images, metric, threshold)
    most_redundant = analysis.most_alike_in_report(report)
    st.caption(most_redundant.reason.replace("Pick any other layer above.",
                                             "Feature maps opens on it: see its maps and ghost pairs there."))
    lab.show_figure("redundancy profile", redundancy_profile_figure, report, model_name=model.label,
                    highlight=most_redundant.layer)
    lab.show_table(pd.DataFrame(report.to_rows()), "redundancy per layer")
