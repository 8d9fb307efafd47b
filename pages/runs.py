"""Runs: every training in the runs folder, and how to start one."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cifar.runs import list_runs, runs_root
from pages.common import use_app_navigation

use_app_navigation()
st.title("Runs")
st.caption(f"Runs folder: `{runs_root()}`")

rows = [run.summary() for run in list_runs()]
if rows:
    table = pd.DataFrame(rows)[["id", "state", "epoch", "epochs", "final_accuracy", "best_accuracy", "seconds"]]
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "final_accuracy": st.column_config.NumberColumn("test accuracy", format="%.3f"),
            "best_accuracy": st.column_config.NumberColumn("best", format="%.3f"),
            "seconds": st.column_config.NumberColumn("training time (s)", format="%.0f"),
        },
    )
else:
    st.info("No runs yet. Start one from a terminal in this folder, then watch it here:")
    st.code(".venv/bin/python -m cifar train --preset quick", language="bash")
