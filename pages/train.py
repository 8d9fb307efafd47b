"""Train: choose the network, see its layers and cost, launch, and watch it learn live."""

from __future__ import annotations

import json

import streamlit as st

from cifar.config.settings import ModelConfig, config_from_dict
from cifar.data import Dataset
from cifar.errors import CifarError
from cifar.launch import launcher
from cifar.launch.estimate import check_feasible, measure_here, network_to_measure
from cifar.launch.rules import describe_rules, read_rules
from cifar.launch.waits import redraw_pace
from cifar.network.build import augmentation_preview, describe
from cifar.network.speed import machine_key, network_key
from cifar.runs.owner import may_act
from cifar.runs.progress import describe_duration, describe_progress
from cifar.runs.run import open_run, runs_root
from cifar.study.changes import changes, marks
from cifar.study.charts import batch_figure, history_figure
from cifar.study.compare import run_outcome, scored_on
from cifar.study.gallery import enlarge, samples_per_class, strip
from pages.parts.experiment_cell import experiment_cell, experiment_name
from pages.parts.steer_panel import pause_notice, run_controls
from pages.parts.train_controls import config_from_widgets, continue_run, preset_picker
from pages.parts.train_share import share_setup
from pages.shared.common import RUN_PARAM, dataset, live_now, use_app_navigation
from pages.shared.signin import current_person

use_app_navigation()
person = current_person()  # in a class, the sign-in until someone has signed in
st.title("Train a network")
data = dataset()


@st.cache_data(max_entries=64, show_spinner="Building the model…")
def layers_of(config_json: str) -> tuple[list[dict], dict[str, int]]:
    return describe(ModelConfig(**json.loads(config_json)))


def _new_draws() -> None:
    st.session_state["augmentation_seed"] = st.session_state.get("augmentation_seed", 0) + 1


def augmentation_view(config: ModelConfig, data: Dataset) -> None:
    """Eight training images, one per class, each beside three augmentations; nothing without augmentation."""
    indices = [int(chosen[0]) for chosen in samples_per_class(data.y_train, data.num_classes, 1) if len(chosen)][:8]
    sources = data.x_train[indices]
    draws = augmentation_preview(config, sources, seed=st.session_state.get("augmentation_seed", 0))
    if draws is None:
        return
    st.subheader("What augmentation does")
    st.caption(
        "Left, a training image; right, three random flips and shifts of it, drawn by the network's own "
        "augmentation layers. Every epoch, the network sees a new variant of every image."
    )
    st.button("New draws", key="new_augmentations", on_click=_new_draws)
    rows = [
        strip([enlarge(source, 2), strip(augmented, scale=2, gap=4)], scale=1, gap=20)
        for source, augmented in zip(sources, draws, strict=True)
    ]
    st.image(rows)


@st.cache_resource(show_spinner="Measuring this machine's speed for this network, once (a few seconds)…")
def _measured(machine: str, network: str, config_json: str) -> bool:
    return measure_here(config_from_dict(json.loads(config_json))) is None


def measure_speed_once(config: ModelConfig) -> None:
    """The estimate rests on this machine's speed, measured once per server for each network."""
    network = network_to_measure(config)
    described = None if network is None else json.dumps(network.to_dict(), sort_keys=True)
    if network is not None and not _measured(machine_key(), network_key(network), described):
        _measured.clear()  # a training ran: try again on a later look


controls, summary = st.columns([1, 1], gap="medium")
with controls:
    if experiment_name():  # a class experiment's link: its cell, every setting fixed
        experiment_cell(experiment_name(), person, data is not None)
        config = None
    else:
        preset_picker()
        config = config_from_widgets()
    if config is not None and data is not None:
        augmentation_view(config, data)

if config is not None:
    rows, counts = layers_of(json.dumps(config.to_dict(), sort_keys=True))
    train_images = len(data.y_train) if data is not None else 50_000
    test_images = len(data.y_test) if data is not None else 10_000
    with summary:
        st.metric("Parameters", f"{counts['total']:,}")
        measure_speed_once(config)
        cost = check_feasible(config, train_images, test_images)
        st.markdown(cost.summary)
        if cost.refusal:
            st.error(cost.refusal)
        for warning in cost.warnings:
            st.warning(warning)
        st.dataframe(
            rows,
            hide_index=True,
            key="layer_table",
            column_config={"parameters": st.column_config.NumberColumn(format="localized")},
        )
        if person.role == "student":
            st.caption(describe_rules(read_rules(runs_root())))
        name = st.text_input("Run name (optional)", key="run_name", max_chars=40)
        if st.button("Launch training", type="primary", key="launch", disabled=data is None or bool(cost.refusal)):
            try:
                run = launcher.launch(config, name=name or st.session_state.get("preset", "run"), person=person)
            except CifarError as error:
                st.error(f"Could not launch: {error}")
            else:
                st.query_params[RUN_PARAM] = run.id
                st.session_state["watching"] = run.id
        share_setup(config)
        continue_run(person, train_images, test_images, data is not None)


def watched_job() -> launcher.Job | None:
    """The training this session launched or has in its address, else any live one."""
    live = {job.run.id: job for job in live_now()[0]}
    watching = st.session_state.get("watching") or st.query_params.get(RUN_PARAM)
    return live.get(watching) or next(iter(live.values()), None)


def live_view(every: int) -> None:
    job = watched_job()
    if redraw_pace(job) != every and job is not None:
        st.rerun(scope="app")  # its run started: the page again, at a training's pace, with its controls
    if job is None:
        ended_view()
        return
    st.session_state["live_run"] = job.run.id
    run = job.run
    st.subheader(f"Run {run.id}")
    if job.state == "queued":
        place = live_now()[1].get(run.id)
        wait = f", starting in {describe_duration(place.starts_in)} (an estimate)" if place else ""
        st.info(
            f"Queued: number {job.queue_position} in line{wait}. It starts by itself when its turn comes: "
            "the queue takes turns between people's names."
        )
    written = run.written_status()
    if written.notice:  # what the training changed from what was asked
        st.info(written.notice)
    pause_notice(run, may_act(person, written.owner))
    progress = run.progress()
    if progress:
        st.progress(progress.fraction, text=describe_progress(progress, detail=True).capitalize())
        curves(run)
    elif job.state == "running":
        st.caption("Loading the data and building the model…")


def curves(run) -> None:
    live_curves, epoch_curves = st.columns(2)
    events = run.events()[0]
    batches, changed = [event for event in events if event["type"] == "batch"], marks(changes(events))
    live_curves.plotly_chart(batch_figure(batches, changed), key="batch_curves")
    figure = history_figure(run.history(), "accuracy", marks=changed, tested_on=scored_on(run))
    epoch_curves.plotly_chart(figure, key="epoch_curves")


def ended_view() -> None:
    """The run this session watched, once it has ended: how it ended, its curves, a link to Results."""
    watched = st.session_state.get("live_run")
    if watched is None:
        return
    try:
        run = open_run(watched)
    except CifarError:  # deleted meanwhile
        return
    if st.session_state.get("ended_shown") != watched:
        st.session_state["ended_shown"] = watched
        st.rerun(scope="app")  # the whole page once more: its Stop button goes with the training
    st.subheader(f"Run {run.id}")
    outcome = run_outcome(run)
    (st.success if launcher.status(run).state == "finished" else st.warning)(outcome)
    if run.history().get("epoch"):
        st.markdown(f":material/insights: [See its results](results?run={run.id})")
        curves(run)


current = watched_job()
st.fragment(run_every=redraw_pace(current))(live_view)(redraw_pace(current))
# Outside the fragment: a button redrawn every second can lose a click that lands mid-redraw.
if current is not None and may_act(person, current.run.written_status().owner):
    run_controls(current, person)
st.caption("A training keeps going if you leave this page, reload it or close the tab.")
