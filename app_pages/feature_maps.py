"""Feature maps of one layer: the maps, their channel similarity, redundancy scores and ghost pairs."""

import streamlit as st

import analysis
import lab
from analysis.figures import feature_map_grid_figure, ghost_pairs_figure, similarity_heatmap_figure
from analysis.tables import ghost_pairs_table, redundancy_scores_table
from lab.bounds import MAX_GRID_CHANNELS, shown_of

DEFAULT_METRIC = "pearson"
DEFAULT_THRESHOLD = 0.8  # where the zoo's stems show a visible share of alike pairs (0.9 shows almost none)
MIN_IMAGES_ACROSS = 4

st.title("Feature maps")
EXPLANATION = (
    "**What you are looking at:** every output channel of one convolution for one image, drawn as one grid in "
    "cluster order, and how alike the channels are (the similarity heatmap, averaged over all chosen images). "
    "**What to look for:** bright blocks on the heatmap's diagonal are groups of channels that carry almost the "
    "same map; the ghost pairs show that one map of a pair is rebuilt from the other by a cheap affine or "
    "depthwise operation (R² near 1), which is what GhostNet and SPConv exploit."
)
st.markdown(EXPLANATION)

model = lab.current_model()
images = lab.current_images()

layers = analysis.conv_layer_names(model.model)
with lab.user_errors("find the layer with the most alike channels"):
    most_alike = lab.alike_layer(model, images, DEFAULT_METRIC, DEFAULT_THRESHOLD)
layer_column, metric_column, threshold_column = st.columns(3)
layer = lab.layer_picker("Layer", layers, most_alike, key="maps_layer", where=layer_column)
metric = metric_column.selectbox("Similarity metric", analysis.METRICS, key="maps_metric")
st.session_state.setdefault("maps_threshold", DEFAULT_THRESHOLD)  # kept across pages: app.KEPT_WIDGETS
threshold = threshold_column.slider("Cluster channels alike at |similarity| >=", 0.5, 0.99, step=0.01,
                                    key="maps_threshold")
if len(images) < MIN_IMAGES_ACROSS:
    st.info(f"Only {len(images)} image(s): each image's similarity uses its maps' spatial positions as samples, "
            f"and the mean over so few images follows their content; choose at least {MIN_IMAGES_ACROSS} images "
            "for a reading of the layer rather than of these images.")
image_names = [item.name for item in images]
shown = st.selectbox("Image shown in the grid", range(len(images)), format_func=image_names.__getitem__,
                     key="maps_image")

with lab.user_errors(f"analyse layer {layer}"):
    captured = lab.activations(model, images, [layer])
    maps = captured.activations[layer]
    similarity = analysis.channel_similarity(maps, metric)
    clusters = analysis.cluster_channels(similarity, threshold=threshold)
    scores = analysis.layer_redundancy_scores(similarity, threshold, maps=maps)
if captured.was_subsampled(layer):
    st.caption(f"The maps were average-pooled from {captured.original_sizes[layer]} to respect the memory bound.")

grid_column, heatmap_column = st.columns([2, 3])
with grid_column:
    lab.show_figure("feature maps", feature_map_grid_figure, maps[shown], channels=clusters.order,
                    max_maps=MAX_GRID_CHANNELS, layer_name=layer, column_share=0.4,
                    caption=shown_of(MAX_GRID_CHANNELS, maps.shape[1], "channels, the first in cluster order"))
with heatmap_column:
    lab.show_figure("channel similarity", similarity_heatmap_figure, similarity, clusters, layer_name=layer,
                    column_share=0.6)
    if note := similarity.constant_note():
        st.warning(lab.literal(note))

st.subheader("Redundancy scores")
st.caption(f"{clusters.num_clusters} clusters among {similarity.channels} channels.")
lab.show_table(redundancy_scores_table(maps, scores, image_names, metric, threshold), "redundancy scores")

st.subheader("Ghost pairs: the most alike channels, rebuilt cheaply")
st.session_state.setdefault("maps_pairs", 6)
num_pairs = st.slider("Pairs", 1, 12, key="maps_pairs")
with lab.user_errors(f"find ghost pairs in {layer}"):
    pairs = analysis.ghost_pairs(maps, similarity=similarity, metric=metric, num_pairs=num_pairs,
                                 example_image=shown)
figure_column, table_column = st.columns([3, 2])
with figure_column:
    lab.show_figure("ghost pairs", ghost_pairs_figure, pairs, max_pairs=num_pairs, column_share=0.6)
with table_column:
    lab.show_table(ghost_pairs_table(pairs), "ghost pairs")
lab.notebook_button("Feature maps", EXPLANATION, model, images,
                    {"layer": layer, "metric": metric, "threshold": threshold, "shown": shown, "pairs": num_pairs,
                     "max_maps": MAX_GRID_CHANNELS})
