"""Compare models: layer-by-layer CKA between the current model and any second model, and the zoo's table."""

import streamlit as st

import lab
from analysis.figures import cka_figure
from lab.cached_results import cka
from lab.zoo import cka_estimator, latency_column, measured_latency, zoo_models, zoo_table

LATENCY_KEY = "compare_latency"
AUTOMATIC, DEBIASED, BIASED = "automatic (by image count)", "debiased", "biased"

st.title("Compare models")
EXPLANATION = (
    "**What you are looking at:** linear CKA (Kornblith et al., 2019) between the outputs of every layer of "
    "the current model (rows) and of a second model (columns) on the chosen images: 1 means the two layers "
    "represent the images the same way up to rotation and scale. Below, the zoo's recorded accuracy, "
    "parameters and MACs, with the latency measured here. **What to look for:** a bright diagonal means the "
    "operator model learned the same stages as the dense one; compare accuracy lost with MACs and time saved."
)
st.markdown(EXPLANATION)

model = lab.current_model()
images = lab.current_images()

st.subheader("Layer-by-layer CKA")
picker_column, estimator_column = st.columns([2, 1])
with picker_column:
    st.markdown("**Second model** (any model the sidebar can load, converted or not)")
    other = lab.model_picker(model.device, prefix="compare_")
choice = estimator_column.selectbox("Estimator", [AUTOMATIC, DEBIASED, BIASED], key="compare_estimator")
debiased, why = cka_estimator(len(images), None if choice == AUTOMATIC else choice == DEBIASED)
estimator_column.caption(why)
if other is None:
    st.info("Choose the second model above.")
elif other.input_size != model.input_size:
    st.warning(lab.literal(f"{model.label} takes {model.input_size} inputs and {other.label} {other.input_size}: CKA "
                           "compares the two models on the same images, so choose a second model with the same "
                           "input size."))
elif lab.asked_for("compare_cka", "Compare every pair of layers",
                   help=f"One forward pass of each model on the {len(images)} images"):
    if other.source is not None:
        lab.notebook_button("Compare models", EXPLANATION, model, images,
                            {"other": other.source, "debiased": debiased, "label": model.label,
                             "other_label": other.label})
    with lab.user_errors(f"compare {model.label} with {other.label}"):
        cka_map = cka(model, other, images, debiased)
        lab.show_figure("cka", cka_figure, cka_map, model_a_name=model.label, model_b_name=other.label)
        if note := cka_map.undefined_note():
            st.warning(lab.literal(note))

st.subheader("The zoo")
with lab.user_errors("read the zoo"):
    zoo = zoo_models(model.device)
if not zoo:
    st.warning("The zoo is not installed, so there is no zoo table. Set SLIMCONV_PRETRAINED_DIR or install the "
               "bundled checkpoints.")
    st.stop()
table = zoo_table(zoo)
if st.button("Measure the latency of every model", key="compare_measure"):
    with lab.user_errors("time the zoo"):
        st.session_state[LATENCY_KEY] = (tuple(table["checkpoint"]), measured_latency(zoo))
names, latency = st.session_state.get(LATENCY_KEY, ((), []))
if names == tuple(table["checkpoint"]) and latency:
    cells, how = latency_column(names, latency)
    table.insert(1, f"latency ms ({model.device}, batch 1)", cells)  # beside the name: a new last column is off-screen
    st.caption(lab.literal(how))
lab.show_table(table, "zoo")
