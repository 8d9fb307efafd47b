"""Class: the board a teacher projects. Each student's best run, what they changed, and where
their training stands; everyone's settings against accuracy; a CSV of it all."""

from __future__ import annotations

import streamlit as st

from cifar.classroom.board import board_csv, board_frame, board_rows, board_start, on_board
from cifar.runs.run import list_runs, runs_root
from cifar.study.charts import parallel_figure
from cifar.study.compare import ACCURACY_AXIS, axis, parallel_columns, run_row, runs_frame
from pages.parts.experiment_view import experiments_section
from pages.parts.teacher_keys import teacher_keys
from pages.shared.common import live_now, use_app_navigation
from pages.shared.signin import current_person

REFRESH_SECONDS = 5

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
st.title("Class board")


def headline(rows: list[dict], live: dict) -> None:
    people, training = len(rows), sum(place.state == "running" for place in live.values())
    leader = next((row for row in rows if row["best accuracy"] is not None), None)
    first, second, third = st.columns(3)
    first.metric("People", people)
    second.metric("Training now · queued", f"{training} · {len(live) - training}")
    if leader:
        label = "Best so far, held-out" if leader["tested on"] else "Best so far"
        third.metric(label, f"{leader['best accuracy']:.1%}", leader["who"], delta_color="off")


def everyone_settings(runs) -> None:
    scored = [row for row in (run_row(run) for run in runs) if row["best accuracy"] is not None]
    candidates = parallel_columns(scored)
    if len(scored) < 2 or not candidates:
        st.caption("With two trained runs that differ in a setting, everyone's settings meet their accuracy here.")
        return
    st.subheader("Everyone's settings against accuracy")
    shown = [axis(name) for name in candidates[:5]]
    st.plotly_chart(parallel_figure(runs_frame(scored), shown, ACCURACY_AXIS), key="board_parallel")
    st.caption(
        f"One line per trained run ({len(scored)}), ending at its best accuracy (on the test set, or on the images "
        "it held out). The Runs page picks other axes."
    )


@st.fragment(run_every=REFRESH_SECONDS)
def board() -> None:
    since, earlier = board_start(runs_root())
    runs = on_board(list_runs(), since)
    if earlier:
        st.caption(
            f"The board started afresh after {earlier[0].name}: "
            "the Runs page keeps earlier boards' runs under their names."
        )
    if not runs:
        st.info(
            "No runs yet. Share a lesson's link from **Train** (*Share this setup*); each student "
            f"{'signs in' if person.role != 'alone' else 'types their name in the sidebar'} and presses Launch, "
            "and their runs appear here."
        )
        return
    _, live = live_now()
    rows = board_rows(runs, live)
    headline(rows, live)
    table = board_frame(rows)
    if not table["tested on"].any():  # nobody held images out: every accuracy is on the test set
        table = table.drop(columns="tested on")
    st.dataframe(
        table,
        hide_index=True,
        key="board_table",
        column_config={
            "who": st.column_config.TextColumn(pinned=True),
            "best accuracy": st.column_config.NumberColumn(format="percent", help="Their best run's best epoch"),
            "tested on": st.column_config.TextColumn(
                help="Empty: the test set. A run that held training images out was tested on those instead"
            ),
            "under attack": st.column_config.NumberColumn(
                format="percent",
                help="Hardest to fool: their best run's accuracy under FGSM at ε = 8 of 255; None until measured",
            ),
            "now": st.column_config.TextColumn(help="Their training now: its place in line and wait, or its progress"),
            "progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
            "changes": st.column_config.TextColumn(
                width="large", help="What their best run changed from the preset it is closest to"
            ),
            "runs": st.column_config.NumberColumn(help="How many runs they launched"),
        },
    )
    st.download_button(
        "Download the board (CSV)",
        data=board_csv(rows),
        file_name="class-board.csv",
        mime="text/csv",
        on_click="ignore",
        key="board_csv",
    )
    st.caption(f"Refreshed every {REFRESH_SECONDS} s. Waits are estimates from each network's size.")
    everyone_settings(runs)


board()
experiments_section(person)
if person.teacher:
    teacher_keys(person)
