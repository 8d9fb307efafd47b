"""CIFAR-10 CNN Lab: the entry script routes to the pages; the work lives in cifar/."""

from __future__ import annotations

import streamlit as st

from pages.common import sidebar


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
        ]
    )
    sidebar()
    navigation.run()


if __name__ == "__main__":
    run()
