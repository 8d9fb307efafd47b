"""What every page shares: the cached dataset, the selected run, the sidebar. Layout only."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from cifar.config.settings import ModelConfig
from cifar.data import Dataset, find_source, load_dataset, needs_decoding
from cifar.errors import CifarError
from cifar.launch import launcher
from cifar.launch.backend import Job
from cifar.launch.waits import IDLE_PACE, SIDEBAR_PACE, Place, live_places
from cifar.runs.progress import describe_progress
from cifar.runs.run import Run, images_tested_on, list_runs, open_run
from pages.shared.no_data import no_data_yet, problem_of, show_on
from pages.shared.signin import current_person, signed_in_line
from pages.shared.who import who_field

RUN_PARAM = "run"


def use_app_navigation() -> None:
    """Make sure the entry script's navigation, not Streamlit's folder scan, runs this page.

    Streamlit treats a `pages/` folder beside the entry script as an old-style multipage app
    until the first `st.navigation` call of the server's life. A deep link (or every open tab
    reconnecting after a restart) would otherwise run a page bare, with every file in
    `pages/` listed as a page. Turning that mode off and rerunning routes through
    `streamlit_app.py`; Streamlit's own `st.navigation` sets the same flag.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


class _NoCopyYet(Exception):
    """No CIFAR-10 on this machine: the page offers a way to get it."""


class _NotDecodedYet(Exception):
    """A copy with no decoded cache: the page decodes it, with a progress bar."""

    def __init__(self, source: Path):
        super().__init__(str(source))
        self.source = source


@st.cache_resource(show_spinner="Loading CIFAR-10…")
def _dataset(source: str | None, _decoded: Dataset | None = None) -> Dataset:
    # cache_resource, not cache_data: one read-only copy for every session, never copied.
    # `source` (CIFAR10_DIR) is the key; find_source reads the variable itself, so that a
    # message names it. The exceptions are not cached: the next run looks again.
    if _decoded is not None:
        return _decoded
    local = find_source()
    if local is None:
        raise _NoCopyYet  # never Keras' download: its spinner would hold the page for minutes
    if needs_decoding(local):
        raise _NotDecodedYet(local)
    return load_dataset(local)


def dataset() -> Dataset | None:
    """The dataset; without one, shows what the page can do about it and returns None."""
    source = os.environ.get("CIFAR10_DIR")
    try:
        return _dataset(source)
    except _NotDecodedYet as pending:
        bar = st.progress(0.0, text="Preparing CIFAR-10 for its first use…")
        try:
            decoded = load_dataset(pending.source, on_progress=show_on(bar))
        except CifarError as error:
            bar.empty()
            no_data_yet(problem_of(error))
            return None
        _dataset(source, decoded)
        st.rerun()  # every part of the page, the sidebar too, now finds it in the cache
    except _NoCopyYet:
        no_data_yet(None)
    except CifarError as error:
        no_data_yet(problem_of(error))
    return None


def selected_run() -> Run | None:
    """The run named in the URL (`?run=ID`), else the newest run; None when there are none."""
    wanted = st.query_params.get(RUN_PARAM)
    if wanted:
        try:
            return open_run(wanted)
        except CifarError as error:
            st.warning(f"{error} Showing the newest run instead.")
    runs = list_runs()
    return runs[0] if runs else None


def choose_run(key: str = "run_picker") -> Run | None:
    """A picker over every run, kept in the URL so that a reload or a shared link shows it."""
    runs = list_runs()
    if not runs:
        return None
    ids = [run.id for run in runs]
    wanted = st.query_params.get(RUN_PARAM)
    if wanted in ids and wanted != st.session_state.get("run_from_url"):
        # The address changed (a shared link, or Launch chose the new run): the picker follows.
        st.session_state[key] = wanted
    elif st.session_state.get(key) not in ids:
        # Streamlit drops a widget's state when a page change races the page's render (ten
        # students clicking at once); the last choice, kept under a plain key, survives that.
        last = st.session_state.get("run_from_url")
        st.session_state[key] = last if last in ids else ids[0]
    chosen = st.selectbox("Run", ids, key=key, help="The run that Results, Predictions and Classify show.")
    st.session_state["run_from_url"] = chosen
    if wanted != chosen:
        st.query_params[RUN_PARAM] = chosen
    return runs[ids.index(chosen)]


def no_run_yet() -> None:
    st.info("No trained run yet. Open **Train**, pick a preset (`quick` takes about a minute) and press Launch.")


# Views redrawn every second or two share one picture of the queue at most this old: thirty open
# tabs then read the runs folder about once a second between them, not thirty times.
VIEW_AGE_SECONDS = 1.0


def live_now() -> tuple[list[Job], dict[str, Place]]:
    """The runs that train or wait and where each stands, as every open view sees them now."""
    return live_places(fresh_within=VIEW_AGE_SECONDS)


def training_progress() -> None:
    """The training in progress, if any, with its progress: redrawn every 2 s while one trains,
    every 5 s while none does (the pace is chosen when the page draws)."""
    pace = SIDEBAR_PACE if any(job.state == "running" for job in live_now()[0]) else IDLE_PACE
    st.fragment(run_every=pace)(_training_progress)()


def _training_progress() -> None:
    live = live_now()[0]
    running = [job for job in live if job.state == "running"]
    if not running:
        if live:
            st.caption(f"{len(live)} training{'s' if len(live) > 1 else ''} queued.")
        return
    run = running[0].run
    progress = run.progress()
    if progress is None:
        st.caption(f"Starting {run.id}…")
        return
    st.progress(progress.fraction, text=f"Training: {describe_progress(progress)}")
    queued = len(live) - len(running)
    if queued:
        st.caption(f"{queued} more queued.")


def _data_in_a_line() -> str:
    """The dataset in use, or why there is none, in one short line that never repeats the page."""
    try:
        data = _dataset(os.environ.get("CIFAR10_DIR"))
    except _NotDecodedYet:
        return "CIFAR-10 is decoded once, when a page first needs it."
    except (_NoCopyYet, CifarError):
        return "No CIFAR-10 data yet: the **Data** page says how to get it."
    return f"Data: {len(data.y_train):,} train and {len(data.y_test):,} test images from `{data.source}`"


def sidebar() -> None:
    """Who you are (your name alone; in a class, who signed in: nothing else shows before),
    the dataset in use, the selected run and the training in progress."""
    person = current_person()
    with st.sidebar:
        if person.role == "alone":
            who_field()
        else:
            signed_in_line(person)
        st.caption(_data_in_a_line())
        choose_run()
        training_progress()


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def _model(run_path: str, modified_ns: int):
    # Keyed on the file's mtime too: a run that trains on replaces model.keras each epoch.
    return Run(Path(run_path)).load_model()


def config_of(run: Run) -> ModelConfig | None:
    """The run's config, or None where its file is damaged or gone (the page says the rest)."""
    try:
        return run.config()
    except CifarError:
        return None


def model_of(run: Run):
    """The run's trained model, cached once its training has ended; None (with a note, or an
    error in words when its file carries code or is damaged) if there is none to use."""
    if not run.has_model():
        st.info(f"Run **{run.id}** has no model yet: it appears after the first finished epoch.")
        return None
    try:
        if launcher.status(run).live:
            return run.load_model()  # still changing: never cached
        return _model(str(run.path), run.model_written_ns())
    except CifarError as error:  # damaged, carries code, or deleted from another tab meanwhile
        st.error(f"**The model of run {run.id} cannot be used.** {error}")
        return None


def test_images(run: Run, data: Dataset | None):
    """The test images the run's predictions refer to, or None (with a note) when the dataset
    in use is not the one the run was tested on."""
    if data is None:
        return None
    try:
        tested = images_tested_on(run, data)
    except CifarError as error:
        st.error(f"**Run {run.id}'s test images cannot be shown.** {error}")
        return None
    if tested is None:
        data_info = run.written_status().data
        source = data_info.source if data_info else "another dataset"
        st.warning(
            f"Run **{run.id}** was tested on {source}, not on the data in use now, so its test images "
            "cannot be shown. Point CIFAR10_DIR at that data and restart the app to see them."
        )
        return None
    return tested[0]
