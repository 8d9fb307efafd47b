"""CIFAR-10 CNN Lab: the entry script routes to the pages; the work lives in cifar/."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.scriptrunner import script_runner

from pages.shared.common import sidebar
from pages.shared.signin import needs_sign_in

# After every script and fragment run, once Keras is imported, Streamlit calls
# keras.backend.clear_session(): a full garbage collection (about 0.25 s with TensorFlow
# loaded) that also resets Keras' state under every other session, and ten open tabs ask for
# several runs a second. Nothing here needs the reset: the server only loads trained models,
# and builds one for the Train page's layer table that is dropped at once. The function is
# private to Streamlit: tests/test_streamlit_patch.py fails when it is renamed or no longer called.
script_runner._clean_problem_modules = lambda: None


def run() -> None:
    st.set_page_config(page_title="CIFAR-10 CNN Lab", page_icon=":material/neurology:", layout="wide")
    navigation = st.navigation(
        [
            st.Page("pages/data.py", title="Data", icon=":material/photo_library:", default=True),
            st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
            st.Page("pages/results.py", title="Results", icon=":material/insights:"),
            st.Page("pages/predictions.py", title="Predictions", icon=":material/grid_view:"),
            st.Page("pages/classify.py", title="Classify", icon=":material/upload:"),
            st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:"),
            st.Page("pages/board.py", title="Class", icon=":material/groups:"),
            st.Page("pages/inside.py", title="Inside", icon=":material/layers:"),
            st.Page("pages/map.py", title="Map", icon=":material/scatter_plot:"),
            st.Page("pages/attack.py", title="Fool it", icon=":material/bug_report:"),
        ],
        position="hidden" if needs_sign_in() else "sidebar",  # a class shows nothing before sign-in
    )
    sidebar()
    navigation.run()


if __name__ == "__main__":
    run()
