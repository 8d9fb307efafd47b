"""The Runs page's filters: which board (where the teacher started it afresh) and whose runs."""

from __future__ import annotations

import streamlit as st

from cifar.classroom.board import NO_NAME, board_start, boards_of
from cifar.runs.run import Run, runs_root


def chosen_runs(runs: list[Run]) -> list[Run]:
    """The runs the filters leave; the filters show only where there is something to choose."""
    since, earlier = board_start(runs_root())
    if earlier:  # the teacher started the board afresh: each earlier board's runs under its name
        board_of = boards_of(runs, since, earlier)
        names = ["", *dict.fromkeys(board.name for board in earlier)]
        wanted = st.selectbox(
            "Board",
            [None, *names],
            format_func=lambda name: "Every run" if name is None else name or "The class board now",
            key="runs_board",
            help="The teacher starts the class board afresh under a name; earlier boards' runs are kept here.",
        )
        if wanted is not None:
            runs = [run for run in runs if board_of[run.id] == wanted]
    people = sorted({run.written_status().who for run in runs})
    if len(people) > 1:
        chosen_people = st.multiselect(
            "Whose runs",
            people,
            format_func=lambda who: who or NO_NAME,
            key="runs_who",
            placeholder="Everyone's",
            help="The name each run was launched under: the sidebar's *Your name*, or who signed in.",
        )
        if chosen_people:
            runs = [run for run in runs if run.written_status().who in chosen_people]
    return runs
