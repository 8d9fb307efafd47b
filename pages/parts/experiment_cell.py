"""The Train page opened from a class experiment's link (`train?experiment=NAME`): the cell this
person trains, why, and one button to launch it with every other setting fixed."""

from __future__ import annotations

import streamlit as st

from cifar.classroom.experiments import (
    EXPERIMENT_PARAM,
    describe_grid,
    launch_cell,
    next_launch,
    read_experiment,
)
from cifar.config.fields import as_text
from cifar.config.settings import FIELDS
from cifar.errors import CifarError
from cifar.runs.owner import Person
from pages.shared.common import RUN_PARAM


def experiment_name() -> str | None:
    """The experiment the address names, if any."""
    return st.query_params.get(EXPERIMENT_PARAM)


def experiment_cell(name: str, person: Person, data_ready: bool) -> None:
    """Say which cell of experiment `name` this person trains and launch it on request."""
    try:
        experiment = read_experiment(name)
    except CifarError as error:
        st.error(f"{error} Ask your teacher for the experiment's link again.")
        return
    cell, earlier, offset = next_launch(experiment)
    st.subheader(f"Class experiment: {experiment.name}")
    if experiment.note:
        st.markdown(f"*{experiment.note}*")
    st.markdown(
        f"The class maps {describe_grid(experiment)}: everyone trains one cell, and the **Class** page draws "
        "the answer as your runs finish."
    )
    why = (
        "nobody has launched it yet"
        if earlier == 0
        else f"every cell has a run, and this one has the fewest: yours is its run number {earlier + 1}, with "
        "another seed"
    )
    st.info(f"Your cell: **{experiment.describe_cell(cell)}** ({why}).")
    config = experiment.config(cell, seed_offset=offset)
    shown = {FIELDS[name].label: as_text(FIELDS[name], getattr(config, name)) for name in FIELDS}
    st.dataframe(
        [{"setting": label, "value": value} for label, value in shown.items()],
        hide_index=True,
        key="experiment_settings",
        height=250,
    )
    st.caption("The experiment fixes every setting, so that the cells differ only in what it varies.")
    if st.button("Launch my cell", type="primary", key="experiment_launch", disabled=not data_ready):
        try:
            run, taken = launch_cell(experiment.name, person=person)
        except CifarError as error:
            st.error(f"Could not launch: {error}")
            return
        st.query_params[RUN_PARAM] = run.id
        st.session_state["watching"] = run.id
        if taken != cell:
            st.toast(f"Someone launched that cell a moment before you: you train {experiment.describe_cell(taken)}.")
        else:
            st.toast(f"Launched: {experiment.describe_cell(taken)}.")
