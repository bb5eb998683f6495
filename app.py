"""slimconv lab: ``streamlit run app.py``. Page config, navigation over app_pages/ and the shared sidebar.

The pages live in app_pages/, not pages/: a pages/ folder switches Streamlit (and its AppTest) to the
old automatic multipage mode, which runs a page without this entry script and so without the sidebar.
"""

import streamlit as st

from lab import keep_widget_state, render_sidebar

st.set_page_config(page_title="slimconv lab", page_icon=":material/filter_alt:", layout="wide")

PAGES = {
    "Redundancy": [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("app_pages/feature_maps.py", title="Feature maps", icon=":material/grid_view:"),
        st.Page("app_pages/filters.py", title="Filters", icon=":material/blur_linear:"),
    ],
    "Operators": [
        st.Page("app_pages/benchmark.py", title="Operator benchmark", icon=":material/speed:"),
        st.Page("app_pages/spconv_split.py", title="SPConv split", icon=":material/call_split:"),
        st.Page("app_pages/flgc_groups.py", title="FLGC groups", icon=":material/workspaces:"),
        st.Page("app_pages/dynamic_conv.py", title="Dynamic convolution", icon=":material/tune:"),
    ],
    "Models": [
        st.Page("app_pages/attribution.py", title="Attribution", icon=":material/visibility:"),
        st.Page("app_pages/compare_models.py", title="Compare models", icon=":material/compare:"),
        st.Page("app_pages/plan.py", title="Plan", icon=":material/checklist:"),
        st.Page("app_pages/train_demo.py", title="Train", icon=":material/model_training:"),
    ],
}

#: Choices kept across page switches (their options are the same for every model). Kept in the session, a value
#: is also what the widget shows when it is drawn again: left to the widget, a run that stopped before drawing
#: it (no model chosen yet) let the browser show the default while the page used the old value.
KEPT_WIDGETS = ("attr_methods", "maps_metric", "spconv_metric", "overview_metric", "spconv_alpha", "maps_threshold",
                "maps_pairs", "dense_groups")

navigation = st.navigation(PAGES)
keep_widget_state(KEPT_WIDGETS)
render_sidebar()
navigation.run()
