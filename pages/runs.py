"""Runs: every training in the runs folder, live ones first, and how to start one."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cifar import jobs
from cifar.runs import list_runs, runs_root
from pages.common import use_app_navigation

use_app_navigation()
st.title("CIFAR-10 CNN Lab")
st.caption(f"Runs folder: `{runs_root()}`")


@st.fragment(run_every=2)
def live_trainings() -> None:
    live = jobs.live_jobs()
    if not live:
        return
    st.subheader("Training now")
    for job in live:
        status = job.run.status()
        if job.state == "queued":
            st.info(f"**{job.run.id}** is queued: number {job.queue_position} in line.")
            continue
        events, _ = job.run.events()
        batches = [e for e in events if e["type"] == "batch"]
        if not batches:
            st.info(f"**{job.run.id}** is starting (loading data and building the model).")
            continue
        last = batches[-1]
        epochs = status.get("epochs") or 1
        done = ((last["epoch"] - 1) + last["batch"] / last["batches"]) / epochs
        st.progress(
            min(done, 1.0),
            text=(
                f"**{job.run.id}**: epoch {last['epoch']}/{epochs}, batch {last['batch']}/{last['batches']}, "
                f"loss {last['loss']:.3f}, accuracy {last['accuracy']:.1%}, "
                f"{last['images_per_second']:.0f} images/s, about {last['eta_seconds'] / 60:.1f} min left"
            ),
        )


live_trainings()

rows = [run.summary() for run in list_runs()]
if rows:
    st.subheader("All runs")
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
