"""Runs: every training side by side, the classroom's hyperparameter exploration."""

from __future__ import annotations

import streamlit as st

from cifar.config.settings import FIELDS
from cifar.errors import CifarError
from cifar.launch import launcher
from cifar.runs.owner import may_act
from cifar.runs.run import Run, list_runs, runs_root
from cifar.study.charts import METRIC_NAMES, overlay_figure, parallel_figure
from cifar.study.compare import ACCURACY_AXIS, axis, history_csv, parallel_columns, run_row, runs_frame
from pages.parts.runs_filters import chosen_runs
from pages.shared.common import RUN_PARAM, selected_run, use_app_navigation
from pages.shared.signin import current_person

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
st.title("Runs")
runs = list_runs()
if not runs:
    st.info("No runs yet. Open **Train** and press Launch, or start one from a terminal in this folder:")
    st.code(".venv/bin/python -m cifar train --preset quick", language="bash")
    st.stop()

runs = chosen_runs(runs)
rows = [run_row(run) for run in runs]
frame = runs_frame(rows)
st.caption(
    f"{len(runs)} run{'s' if len(runs) != 1 else ''} in `{runs_root()}`, newest first. Click a column header to "
    "sort. Settings that differ between runs get a column of their own."
)
st.dataframe(
    frame,
    hide_index=True,
    key="runs_table",
    column_config={
        "run": st.column_config.TextColumn(pinned=True),
        "test accuracy": st.column_config.NumberColumn(format="percent", help="After the last finished epoch"),
        "best accuracy": st.column_config.NumberColumn(
            format="percent", help="The best epoch's accuracy on the test set, or on the images the run held out"
        ),
        "tested on": st.column_config.TextColumn(
            help="Empty: the test set. A run that held training images out was tested on those instead"
        ),
        "under attack": st.column_config.NumberColumn(
            format="percent",
            help="Test accuracy under FGSM at ε = 8 of 255 on 500 test images; None until measured on Fool it",
        ),
        "minutes": st.column_config.NumberColumn(format="%.1f", help="Training and validation time"),
        "parameters": st.column_config.NumberColumn(format="localized"),
        "preset": st.column_config.TextColumn(help="The preset whose settings the run has, whatever its seed"),
        "machine": st.column_config.TextColumn(help="Where it trained: the GPUs, or the CPU's cores"),
        "who": st.column_config.TextColumn(help="Who launched it: their name, or who signed in"),
        **{
            name: st.column_config.NumberColumn(field.axis, help=field.help, format=field.number_format)
            if field.number_format
            else st.column_config.Column(field.axis, help=field.help)
            for name, field in FIELDS.items()
        },
    },
)

by_id = {run.id: run for run in runs}
accuracy = {row["run"]: row["best accuracy"] for row in rows}
trained = [row["run"] for row in rows if row["epochs done"]]


def label(run_id: str) -> str:
    best = accuracy.get(run_id)
    return f"{run_id} ({best:.1%})" if best is not None else run_id


st.subheader("Compare curves")
if trained:
    chosen = st.multiselect(
        "Runs to compare", trained, default=trained[:5], format_func=label, key="compare_runs", max_selections=10
    )
    metric = st.radio("Curve", list(METRIC_NAMES), format_func=METRIC_NAMES.get, horizontal=True, key="compare_metric")
    if chosen:
        st.plotly_chart(overlay_figure({i: by_id[i].history() for i in chosen}, metric), key="overlay")
else:
    st.info("Curves appear here once a run has finished its first epoch.")

st.subheader("Settings against accuracy")
scored = [row for row in rows if row["best accuracy"] is not None]
candidates = parallel_columns(scored)
if len(scored) >= 2 and candidates:
    axes = st.multiselect(
        "Settings to show",
        candidates,
        default=candidates[:4],
        format_func=lambda name: axis(name).title,
        key="parallel_axes",
        help="Fewer axes read better, on a phone most of all.",
    )
    st.plotly_chart(parallel_figure(runs_frame(scored), [axis(name) for name in axes], ACCURACY_AXIS), key="parallel")
    st.caption(
        "One line per run, ending at its best accuracy (on the test set, or on the images it held out). "
        "Drag along an axis to pick out a range."
    )
else:
    st.info(
        "With two or more trained runs that differ in some setting, this shows each setting against the best "
        "accuracy: a class can split the settings between them and meet here."
    )


def manage(run: Run) -> None:
    """Downloads, and delete (with a confirmation) for one's own run or a teacher."""
    live = launcher.status(run).live
    written = run.written_status()
    mine = may_act(person, written.owner)
    model_column, history_column, delete_column = st.columns(3)
    model_column.download_button(
        "Model (.keras)",
        data=lambda: run.files.model.read_bytes(),  # read on click: up to tens of MB
        file_name=f"{run.id}.keras",
        mime="application/octet-stream",
        disabled=not run.has_model(),
        on_click="ignore",
        key="download_model",
    )
    history_column.download_button(
        "History (CSV)",
        data=history_csv(run.history()),
        file_name=f"{run.id}-history.csv",
        mime="text/csv",
        on_click="ignore",
        key="download_history",
    )
    why_not = "Stop it first." if live else None
    if not mine:
        why_not = f"It is {written.who or 'not yours'}'s: only they and a teacher may delete it."
    if delete_column.button(
        "Delete…", key="delete_run", disabled=bool(why_not), help=why_not or "Asks before deleting."
    ):
        st.session_state["confirm_delete"] = run.id
    if st.session_state.get("confirm_delete") != run.id:
        return
    st.warning(f"Delete run **{run.id}** with its model, history and predictions? This cannot be undone.")
    yes, no = st.columns(2)
    if yes.button("Yes, delete it", type="primary", key="confirm_delete_yes"):
        del st.session_state["confirm_delete"]
        try:
            launcher.delete(run, person=person)
        except CifarError as error:
            st.error(f"Nothing was deleted: {error}")
            return
        if st.query_params.get(RUN_PARAM) == run.id:
            del st.query_params[RUN_PARAM]
        st.toast(f"Deleted {run.id}.")
        st.rerun()
    if no.button("Cancel", key="confirm_delete_no"):
        del st.session_state["confirm_delete"]
        st.rerun()


st.subheader("Download or delete")
current = selected_run()
ids = list(by_id)
target = st.selectbox(
    "Run", ids, index=ids.index(current.id) if current and current.id in by_id else 0, key="manage_run"
)
manage(by_id[target])
