"""Figure builders: each takes an analysis result and returns a ``matplotlib.figure.Figure`` drawn by
the Agg backend and never registered with pyplot, so it can be shown (``st.pyplot(fig)``), saved
(``fig.savefig(path)``) or dropped without leaking."""

from .._lazy import lazy_attribute
from ._style import make_legible
from .network_figures import cka_figure, redundancy_profile_figure
from .operator_figures import (
    dense_grouping_figure,
    flgc_groups_figure,
    flgc_switches_figure,
    pedconv_figure,
    spconv_figure,
    split_what_if_figure,
)
from .similarity_figures import feature_map_grid_figure, ghost_pairs_figure, similarity_heatmap_figure
from .weight_figures import filter_correlation_figure, linearconv_figure, primaries_figure, spectrum_figure

#: Imported on first use (analysis._lazy): they need captum, which the app's first page does not.
_LAZY = dict.fromkeys(("attribution_comparison_figure", "attribution_overlay_figure", "importance_redundancy_figure"),
                      ".attribution_figures")


def __getattr__(name: str) -> object:
    return lazy_attribute(__name__, _LAZY, name)


__all__ = [
    "attribution_comparison_figure",
    "attribution_overlay_figure",
    "cka_figure",
    "feature_map_grid_figure",
    "filter_correlation_figure",
    "dense_grouping_figure",
    "flgc_groups_figure",
    "flgc_switches_figure",
    "ghost_pairs_figure",
    "importance_redundancy_figure",
    "linearconv_figure",
    "make_legible",
    "pedconv_figure",
    "primaries_figure",
    "redundancy_profile_figure",
    "similarity_heatmap_figure",
    "spconv_figure",
    "spectrum_figure",
    "split_what_if_figure",
]
