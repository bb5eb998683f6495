"""Compare models: layer-by-layer CKA between two models, and the zoo's accuracy, cost and latency."""

import streamlit as st

import lab
from analysis.figures import cka_figure
from lab.cached_results import cka
from lab.models import load_bundled
from lab.zoo import measured_latency, zoo_models, zoo_table

LATENCY_KEY = "compare_latency"

st.title("Compare models")
st.markdown(
    "**What you are looking at:** linear CKA (Kornblith et al., 2019) between the outputs of every layer of "
    "the current model (rows) and of a second model (columns) on the chosen images: 1 means the two layers "
    "represent the images the same way up to rotation and scale. Below, the zoo's recorded accuracy, "
    "parameters and MACs, with the latency measured here. **What to look for:** a bright diagonal means the "
    "operator model learned the same stages as the dense one; compare accuracy lost with MACs and time saved."
)

model = lab.current_model()
images = lab.current_images()
with lab.user_errors("read the zoo"):
    zoo = zoo_models(model.device)

if not zoo:
    st.warning("The zoo is not installed, so there is no second model to compare with and no zoo table. Set "
               "SLIMCONV_PRETRAINED_DIR or install the bundled checkpoints.")
    st.stop()
cka_section = st.container()  # drawn first, filled last: a failed comparison must not hide the zoo table

st.subheader("The zoo")
table = zoo_table(zoo)
if st.button("Measure the latency of every model", key="compare_measure"):
    with lab.user_errors("time the zoo"):
        st.session_state[LATENCY_KEY] = (tuple(table["checkpoint"]), measured_latency(zoo))
names, latency = st.session_state.get(LATENCY_KEY, ((), []))
if names == tuple(table["checkpoint"]):
    table[f"latency ms ({model.device}, batch 1)"] = latency
lab.show_table(table, "zoo")

with cka_section:
    st.subheader("Layer-by-layer CKA")
    other_column, debiased_column = st.columns([3, 1])
    other_name = other_column.selectbox("Second model", [loaded.label for loaded in zoo], index=len(zoo) - 1,
                                        key="compare_other")
    debiased = debiased_column.checkbox("Debiased (needs 4 images)", value=len(images) >= 4, key="compare_debiased")
    with lab.user_errors(f"compare {model.label} with {other_name}"):
        cka_map = cka(model, load_bundled(other_name, model.device), images, debiased)
    lab.show_figure("cka", cka_figure, cka_map, model_a_name=model.label, model_b_name=other_name)
    if note := cka_map.undefined_note():
        st.warning(lab.literal(note))
