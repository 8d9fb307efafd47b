"""The Class page's experiments: a teacher makes one and gets its link; everyone sees its answer
drawn live (the grid as a heatmap, the cells' curves, which setting mattered) and downloads it."""

from __future__ import annotations

import streamlit as st

from cifar.classroom.experiments import (
    EXPERIMENT_PARAM,
    MAX_CELLS,
    NOT_VARIED,
    Answer,
    answer,
    describe_grid,
    list_experiments,
    make_experiment,
    parse_vary,
    read_experiment,
    save_experiment,
)
from cifar.config.presets import EXAMPLE_GRID, PRESETS
from cifar.config.settings import FIELDS
from cifar.errors import CifarError
from cifar.runs.owner import Person
from cifar.runs.run import runs_root
from cifar.study.grid import cell_name, curves_figure, experiment_table, grid_figure

REFRESH_SECONDS = 5
VARIABLE = sorted(name for name in FIELDS if name not in NOT_VARIED)


def experiments_section(person: Person) -> None:
    """The experiments of the class: the chosen one's answer, and a teacher's form for a new one."""
    st.header("Class experiments")
    if person.role in ("teacher", "alone"):
        new_experiment_form(person)
    names = list_experiments()
    if not names:
        st.caption(
            "An experiment maps a question together: vary one to three settings, share one link, and each "
            "person who opens it trains a different cell."
        )
        return
    asked = st.query_params.get(EXPERIMENT_PARAM)
    chosen = st.selectbox(
        "Experiment", names, index=names.index(asked) if asked in names else 0, key="experiment_choice"
    )
    experiment_answer(chosen)


def new_experiment_form(person: Person) -> None:
    with st.expander("New experiment", expanded=False), st.form("new_experiment", border=False):
        name = st.text_input("Name", key="experiment_name", max_chars=40, placeholder="what-matters")
        preset_name = st.selectbox("Base preset", list(PRESETS), index=1, key="experiment_preset")
        note = st.text_input("The question, for the class (optional)", key="experiment_note", max_chars=300)
        st.caption(f"One to three settings to vary, values separated by '/' (at most {MAX_CELLS} cells).")
        rows = []
        for index, (default, values) in enumerate((*EXAMPLE_GRID, (None, ""))):
            left, right = st.columns([1, 2])
            setting = left.selectbox(
                f"Setting {index + 1}", ["—", *VARIABLE], index=VARIABLE.index(default) + 1 if default else 0,
                key=f"experiment_setting_{index}",
            )  # fmt: skip
            typed = right.text_input(f"Values {index + 1}", value=values, key=f"experiment_values_{index}")
            if setting != "—":
                rows.append(f"{setting}={typed}")
        if st.form_submit_button("Make the experiment", type="primary"):
            try:
                experiment = make_experiment(name, preset_name, [parse_vary(row) for row in rows], note=note,
                                             person=person)  # fmt: skip
                save_experiment(experiment, person=person)
            except CifarError as error:
                st.error(str(error))
            else:
                st.query_params[EXPERIMENT_PARAM] = experiment.name
                st.success(f"Made {experiment.name}: {describe_grid(experiment)}. Share its link below.")


@st.cache_data(ttl=REFRESH_SECONDS, max_entries=32, show_spinner=False)
def shared_answer(name: str, runs: str) -> Answer:
    """The experiment's answer, worked out once every few seconds for everyone who looks: its
    importance fits many small forests (cifar/study/grid.py)."""
    return answer(read_experiment(name, runs), runs)


@st.fragment(run_every=REFRESH_SECONDS)
def experiment_answer(name: str) -> None:
    try:
        found = shared_answer(name, str(runs_root()))
    except CifarError as error:
        st.error(str(error))
        return
    experiment, settings = found.experiment, found.experiment.settings()
    st.markdown(
        f"**{experiment.name}**: {describe_grid(experiment)}" + (f". *{experiment.note}*" if experiment.note else "")
    )
    st.markdown("Link for the class:")
    st.code(_absolute(experiment.link), language=None)
    finished = sum(run.best_accuracy is not None for run in found.runs)
    st.caption(
        f"{len(found.runs)} run(s) launched, {finished} with a finished epoch. Refreshed every {REFRESH_SECONDS} s."
    )
    st.plotly_chart(grid_figure(settings, found.summaries), key="experiment_grid")
    st.markdown(found.words)
    table = experiment_table(settings, found.summaries)
    st.download_button(
        "Download the experiment (CSV)",
        data=table.to_csv(index=False).encode(),
        file_name=f"experiment-{experiment.name}.csv",
        mime="text/csv",
        on_click="ignore",
        key="experiment_csv",
    )
    with_runs = [summary.cell for summary in found.summaries if summary.launched]
    picked = st.multiselect(
        "Curves of the cells", with_runs, format_func=lambda cell: cell_name(settings, cell), key="experiment_cells"
    )
    if picked:
        st.plotly_chart(curves_figure(settings, found.runs, picked), key="experiment_curves")


def _absolute(link: str) -> str:
    """`link` (relative to the app) after the address this page was opened at, where it is known."""
    address = (st.context.url or "").split("?")[0].rsplit("/", 1)[0]
    return f"{address}/{link}" if address.startswith("http") else link
