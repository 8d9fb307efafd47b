"""The Class page's teacher's keys: the queue, the class's limits, names, any run, the board,
the audit log. Shown to a teacher only; every action is checked again in cifar/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

import pandas as pd
import streamlit as st

from cifar.classroom.board import start_afresh
from cifar.classroom.signin import held_names, release_name
from cifar.config.presets import PRESETS
from cifar.config.settings import CIFAR_TRAIN_IMAGES, MAX_EPOCHS
from cifar.errors import CifarError
from cifar.launch import launcher
from cifar.launch.rules import ClassRules, read_rules, set_paused, set_rules
from cifar.runs.audit import read_audit
from cifar.runs.owner import Person
from cifar.runs.run import list_runs, runs_root
from cifar.training.local_queue import paused


def _act(action: Callable[[], object], done: str) -> bool:
    """Do `action`, saying `done` in a toast, or what went wrong in words; whether it was done."""
    try:
        action()
    except CifarError as error:
        st.error(str(error))
        return False
    st.toast(done)
    return True


def queue_key(person: Person) -> None:
    root = runs_root()
    waiting = sum(job.state == "queued" for job in launcher.live_jobs())
    st.caption(f"{waiting} run{'s' if waiting != 1 else ''} queued now.")
    if paused(root):
        st.warning("The queue is paused: queued runs wait; runs already training go on.")
        if st.button("Resume the queue", key="teacher_resume") and _act(
            lambda: set_paused(person, False, root), "The queue goes on."
        ):
            st.rerun()
    elif st.button(
        "Pause the queue", key="teacher_pause", help="Queued runs wait; runs already training go on."
    ) and _act(lambda: set_paused(person, True, root), "The queue is paused."):
        st.rerun()


def limits(person: Person) -> None:
    rules = read_rules(runs_root())
    with st.form("teacher_limits"):
        first, second = st.columns(2)
        waiting = first.number_input("Runs waiting per person", 1, 20, rules.waiting_per_person, key="limit_waiting")
        hours = second.number_input("Sign-in lasts (hours)", 0.25, 168.0, float(rules.sign_in_hours), key="limit_hours")
        epochs = first.number_input("Most epochs a run", 1, MAX_EPOCHS, rules.max_epochs, key="limit_epochs")
        images = second.number_input(
            "Most training images a run", 10, CIFAR_TRAIN_IMAGES, rules.max_train_images, step=1000, key="limit_images"
        )
        allowed = st.multiselect("Presets allowed", list(PRESETS), list(rules.presets), key="limit_presets")
        if st.form_submit_button("Keep these limits"):
            chosen = ClassRules(int(waiting), int(epochs), int(images), tuple(allowed), float(hours))
            _act(lambda: set_rules(person, chosen, runs_root()), "The class's limits are kept.")


def names(person: Person) -> None:
    held = {name.folded: name for name in held_names(runs_root())}
    if not held:
        st.caption("Nobody holds a name with the class code now.")
        return
    st.caption(
        f"{len(held)} names held with the class code. A name stays its holder's; release it for a student "
        "who signs in on another computer (or signed out), and they may take it again."
    )
    chosen = st.selectbox(
        "Names held",
        list(held),
        format_func=lambda folded: f"{held[folded].name} (since {datetime.fromtimestamp(held[folded].since):%H:%M})",
        key="teacher_name",
    )
    name = held[chosen].name
    if st.button("Release this name", key="teacher_release", help="Signs them out; the name is free again.") and _act(
        lambda: release_name(person, name, runs_root()), f"Released {name}."
    ):
        st.rerun()


def any_run(person: Person) -> None:
    runs = list_runs()
    if not runs:
        st.caption("No runs yet.")
        return
    labels = {run.id: f"{run.id} · {run.written_status().who or '(no name)'}" for run in runs}
    chosen = st.selectbox("Run", list(labels), format_func=labels.__getitem__, key="teacher_run")
    run = next(run for run in runs if run.id == chosen)
    stop, delete = st.columns(2)
    if stop.button("Stop it", key="teacher_stop", disabled=not launcher.status(run).live):
        _act(lambda: launcher.stop(run, person=person), f"Asked {run.id} to stop.")
    if delete.button("Delete it", key="teacher_delete", disabled=launcher.status(run).live, help="Stop it first."):
        st.session_state["teacher_confirm_delete"] = run.id
    if st.session_state.get("teacher_confirm_delete") == run.id:
        st.warning(f"Delete run **{run.id}** for good?")
        if st.button("Yes, delete it", type="primary", key="teacher_delete_yes"):
            del st.session_state["teacher_confirm_delete"]
            if _act(lambda: launcher.delete(run, person=person), f"Deleted {run.id}."):
                st.rerun()


def afresh(person: Person) -> None:
    with st.form("teacher_afresh"):
        name = st.text_input("Keep today's board as", max_chars=40, key="afresh_name", placeholder="lesson 3")
        if st.form_submit_button("Start the board afresh"):
            _act(lambda: start_afresh(person, name, runs_root()), "The board starts afresh; nothing was deleted.")


def audit() -> None:
    try:
        log = read_audit(runs_root())
    except CifarError as error:
        st.error(str(error))
        return
    if log.notice:
        st.warning(log.notice)
    if not log.entries:
        st.caption("Nothing in the audit log yet.")
        return
    frame = pd.DataFrame([asdict(entry) for entry in reversed(log.entries[-500:])])
    frame["run"] = frame["run"].fillna("")
    frame["when"] = pd.to_datetime(frame["when"], utc=True, errors="coerce").dt.tz_convert(None)
    columns = ["when", "who", "action", "run", "outcome", "detail", "role", "how", "key", "session"]
    st.dataframe(
        frame[columns],
        hide_index=True,
        key="audit_table",
        column_config={"when": st.column_config.DatetimeColumn(format="D MMM, HH:mm:ss", help="In UTC")},
    )
    st.caption("The last 500 actions, newest first. All of them: `python -m cifar audit`.")


def teacher_keys(person: Person) -> None:
    """The teacher's keys, each in a tab of its own."""
    st.subheader("Teacher's keys")
    tabs = st.tabs(["Queue", "Limits", "Names", "Any run", "Board", "Audit log"])
    for tab, part in zip(tabs, (queue_key, limits, names, any_run, afresh), strict=False):
        with tab:
            part(person)
    with tabs[-1]:
        audit()
