"""Filters of one layer: their correlation, singular spectrum and how few LinearConv primaries rebuild them."""

import pandas as pd
import streamlit as st

import analysis
import lab
from analysis.figures import filter_correlation_figure, linearconv_figure, primaries_figure, spectrum_figure
from lab.bounds import MAX_HEATMAP_FILTERS, shown_of
from lab.trained_offer import offer_trained
from slimconv import LinearConv2d

st.title("Filters")
EXPLANATION = (
    "**What you are looking at:** the weights of one convolution, each filter flattened to a vector. The "
    "correlation matrix shows which filters point the same way, the singular spectrum how many independent "
    "directions the filters really span, and the primaries curve how many filters (LinearConv's *primaries*) "
    "rebuild all the others as linear combinations. **What to look for:** a spectrum that drops fast and a "
    "primaries count well below the filter count mean the layer could be a LinearConv with fewer parameters."
)
st.markdown(EXPLANATION)

model = lab.current_model()
modules = dict(model.model.named_modules())
layers = analysis.conv_layer_names(model.model)
linearconv_layers = [name for name in layers if isinstance(modules[name], LinearConv2d)]
most_correlated = lab.correlated_filters_layer(model)
if linearconv_layers:  # what the LinearConv layers hold (primaries, coefficients) is the lesson here
    layer = st.selectbox("Layer", layers, index=layers.index(linearconv_layers[0]), key="filters_layer")
    st.caption(f"Opened on **{linearconv_layers[0]}**, the first of the {len(linearconv_layers)} LinearConv layers: "
               "its primaries and the coefficients that build the other filters from them.")
else:
    layer = lab.layer_picker("Layer", layers, most_correlated, key="filters_layer")
module = modules[layer]

if isinstance(module, LinearConv2d):
    with lab.user_errors(f"inspect LinearConv layer {layer}"):
        inspection = analysis.inspect_linearconv(module)
    primaries, secondaries, regulariser = st.columns(3)
    primaries.metric("Primary filters", inspection.num_primaries)
    secondaries.metric("Secondary filters", inspection.num_secondaries)
    regulariser.metric("Correlation regulariser", f"{inspection.regulariser:.3g}")
    lab.show_figure("linearconv layer", linearconv_figure, inspection, layer_name=layer)
    lab.show_table(pd.DataFrame(inspection.coefficients.numpy()).add_prefix("primary "), "linearconv coefficients")
    lab.notebook_button("Filters", EXPLANATION, model, lab.current_images(), {"layer": layer, "linearconv": True})
    st.stop()

weight = getattr(module, "weight", None)
if weight is None or weight.dim() != 4:
    plain = [] if most_correlated is None else list(most_correlated.scores)
    st.info(f"{layer} is a {type(module).__name__}, whose filters are not one plain weight tensor (the operator "
            "builds them from several parts), so their correlation and spectrum are not defined here; this view "
            "applies to dense convolutions and LinearConv layers. "
            + (f"Layers of this model it applies to: {', '.join(plain)}." if plain else
               "No layer of this model has plain filters: choose a dense or LinearConv model to see this view."))
    st.stop()

r2_target = st.slider("Rebuild every filter to R² >=", 0.5, 0.999, 0.95, 0.005, key="filters_r2")
with lab.user_errors(f"analyse the filters of {layer}"):
    correlation = analysis.filter_correlation(weight.detach())
    spectrum = analysis.filter_spectrum(weight.detach())
    rebuild = analysis.primaries_needed(weight.detach(), r2_target)

filters_count, rank, needed, saved = st.columns(4)
filters_count.metric("Filters", int(weight.shape[0]))
rank.metric("Effective rank", f"{spectrum.effective_rank:.1f}")
needed.metric(f"Primaries for R² >= {r2_target:g}", rebuild.primaries_needed)
saved.metric("Parameters saved by LinearConv", f"{rebuild.params_saved:,}")

correlation_column, spectrum_column = st.columns(2)
with correlation_column:
    lab.show_figure("filter correlation", filter_correlation_figure, correlation,
                    order=rebuild.primary_order[:MAX_HEATMAP_FILTERS], layer_name=layer, column_share=0.5,
                    caption=shown_of(MAX_HEATMAP_FILTERS, int(weight.shape[0]), "filters, the first primaries"))
with spectrum_column:
    lab.show_figure("singular spectrum", spectrum_figure, spectrum, layer_name=layer, column_share=0.5)
primaries_column, table_column = st.columns([3, 2])
with primaries_column:
    lab.show_figure("linearconv potential", primaries_figure, rebuild, layer_name=layer, column_share=0.6)
with table_column:
    lab.show_table(pd.DataFrame({
        "singular value": spectrum.singular_values.tolist(),
        "cumulative energy": spectrum.cumulative_energy.tolist(),
    }), "singular spectrum")
lab.notebook_button("Filters", EXPLANATION, model, lab.current_images(),
                    {"layer": layer, "r2_target": r2_target, "max_filters": MAX_HEATMAP_FILTERS})
offer_trained("linearconv", intro="To see what a trained LinearConv layer learned (its primaries, the coefficients "
              "of its secondaries and its correlation regulariser), open the zoo's LinearConv model and pick one "
              "of its 3x3 layers.")
