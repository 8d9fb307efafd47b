"""The Train page's steering of a running training: pause or resume, one more epoch, stop after
this epoch, a new learning rate, another last epoch; and, in the live view, what a pause says.

The launcher checks every request (cifar/launch/steer.py); the trainer answers between batches,
so the panel only asks and says that it asked.
"""

from __future__ import annotations

import streamlit as st

from cifar.errors import CifarError
from cifar.launch import launcher
from cifar.launch.steer import steer
from cifar.runs.control import pause_limit_seconds
from cifar.runs.owner import Person
from cifar.runs.progress import describe_pause
from cifar.runs.run import Run
from cifar.study.changes import changes, rate_now

VALUE_KEYS = ("steer_lr", "steer_epochs")
PAUSE_HELP = "Pauses after the current batch."
STEP_HELP = "Trains until the epoch under way has finished (or the next, at an epoch's end), then pauses."
STOP_AFTER_HELP = "Finishes the epoch under way, tests and keeps it, then stops."
STOP_HELP = "Stops after the current batch; finished epochs are kept."


def pause_notice(run: Run, may_resume: bool) -> None:
    """In the live view: a paused training says so, for how long, by whom and until when. When a
    pause begins or ends, the whole page runs again, so that the panel's Pause or Resume matches."""
    status = run.written_status()
    seconds = status.paused_seconds
    seen = (run.id, seconds is not None)
    if st.session_state.setdefault("pause_seen", seen) != seen:
        st.session_state["pause_seen"] = seen
        st.rerun(scope="app")
    if seconds is None:
        return
    by = {"step": " after one more epoch, as asked", "": ""}.get(status.paused_by, f" by {status.paused_by}")
    left = describe_pause(max(pause_limit_seconds() - seconds, 0))
    resume = "Resume to go on. " if may_resume else ""
    st.warning(
        f"**Paused for {describe_pause(seconds)}{by}.** {resume}Unless resumed within {left}, it stops then, "
        "keeping its finished epochs, and gives its place in line to others.",
        icon=":material/pause_circle:",
    )


def _buttons(paused: bool) -> tuple[str, None] | None:
    """Pause or Resume, One more epoch, Stop after this epoch, each drawn: what was clicked, if any."""
    if paused:
        clicked = {"resume": st.button("Resume", key="steer_resume", icon=":material/play_arrow:", type="primary")}
    else:
        clicked = {"pause": st.button("Pause", key="steer_pause", icon=":material/pause:", help=PAUSE_HELP)}
    clicked["step"] = st.button("One more epoch", key="steer_step", icon=":material/skip_next:", help=STEP_HELP)
    clicked["stop_after_epoch"] = st.button(
        "Stop after this epoch", key="steer_stop_after_epoch", icon=":material/last_page:", help=STOP_AFTER_HELP
    )
    return next(((action, None) for action, pressed in clicked.items() if pressed), None)


def _value_row(label: str, action: str, key: str, value: float | int, **number) -> tuple[str, float] | None:
    """A number and its Apply button: (action, the number) when applied."""
    field, apply = st.columns([3, 1], vertical_alignment="bottom")
    chosen = field.number_input(label, key=key, value=value, **number)
    if apply.button("Apply", key=f"{key}_apply", width="stretch"):
        return action, chosen
    return None


def _values(run: Run, launched: float, ends_at: int) -> tuple[str, float] | None:
    """A new learning rate and a new last epoch, side by side: the one applied, if any."""
    rate, epochs = st.columns(2, gap="medium")
    with rate:
        rate_asked = _value_row(
            "Learning rate",
            "lr",
            "steer_lr",
            rate_now(changes(run.events()[0]), launched),
            min_value=0.0,
            step=0.0001,
            format="%g",
            help="From the next batch on; a schedule goes on from the new rate.",
        )
    with epochs:
        epochs_asked = _value_row(
            "End at epoch",
            "epochs",
            "steer_epochs",
            ends_at,
            min_value=1,
            step=1,
            help="The epoch the run ends at: more to train on, fewer to stop sooner.",
        )
    return rate_asked or epochs_asked


def _ask(run: Run, person: Person, action: str, value: float | None) -> None:
    try:
        request = steer(run, action, value, person=person)
    except CifarError as error:
        st.error(f"Not asked: {error}")
    else:
        st.toast(f"Asked {run.id}: {request.describe()}. The training answers after its current batch.")


def _stop(run: Run, person: Person) -> None:
    try:
        launcher.stop(run, person=person)
    except CifarError as error:
        st.error(f"Could not stop {run.id}: {error}")
    else:
        st.toast(f"Stopping {run.id} after its current batch.")


def _stop_clicked() -> bool:
    return st.button("Stop training", key="stop_training", icon=":material/stop:", help=STOP_HELP)


def steer_panel(run: Run, person: Person) -> None:
    """Steering for a running training that `person` may act on (the launcher checks again), and Stop."""
    if st.session_state.get("steer_run") != run.id:  # another run: its own rate and last epoch
        st.session_state["steer_run"] = run.id
        for key in VALUE_KEYS:
            st.session_state.pop(key, None)
    status, config = launcher.status(run), run.config()
    with st.container(border=True):
        st.markdown("**Steer this training** · it answers between batches")
        with st.container(horizontal=True):
            asked = _buttons(bool(status.paused_since))
            stopping = _stop_clicked()
        applied = _values(run, config.learning_rate, status.epochs or config.epochs)  # drawn every time
        asked = asked or applied
        if stopping:
            _stop(run, person)
        elif asked:
            _ask(run, person, *asked)


def run_controls(job: launcher.Job, person: Person) -> None:
    """What `person`, who may act on the live `job`, can do: steer it while it trains; stop it."""
    if job.state == "running":
        steer_panel(job.run, person)
    elif _stop_clicked():
        _stop(job.run, person)
