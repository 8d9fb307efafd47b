"""The Train page's steering panel (pages/parts/steer_panel.py), run with AppTest on a training
that a fake backend says is running: each button writes its request into the run's control
file, a refusal is said in words and writes nothing, a pause is said in the live view, and only
the owner and a teacher see the panel."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from helpers import TINY, FakeBackend, app_page, registered
from streamlit.testing.v1 import AppTest

from cifar.classroom.signin import ClassSettings, sign_in_teacher, sign_in_with_code
from cifar.launch import launcher
from cifar.runs.control import read_requests
from cifar.runs.owner import ALONE, Person
from cifar.runs.run import Run, open_run
from cifar.runs.status import now_iso, write_status

STEER_KEYS = ("steer_pause", "steer_step", "steer_stop_after_epoch", "steer_lr_apply", "steer_epochs_apply")
CLASS = ClassSettings(code="owl42", teacher_password="sesame")


@pytest.fixture(autouse=True)
def with_data(batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))


@pytest.fixture
def fake(monkeypatch):
    return registered(monkeypatch, FakeBackend())


def _running(runs_dir, fake: FakeBackend, person: Person = ALONE, state: str = "running", **status) -> Run:
    """A run the fake backend says is `state`, trained (as far as its status says) by this process."""
    run = launcher.launch(TINY.replace(epochs=5), runs_dir, "steered", person=person, backend=fake)
    fake.states[run.id] = state
    written = run.written_status().replace(state=state, pid=os.getpid(), pid_start=None, **status)
    write_status(run.files.status, written)
    return run


def train_page(token: str | None = None) -> AppTest:
    at = app_page("train")
    if token:
        at.session_state["class_token"] = token
    return at.run()


def _asked(run: Run) -> list[tuple[str, float | None, str]]:
    requests, problems = read_requests(run.files.control)
    assert not problems
    return [(request.action, request.value, request.who) for request in requests]


def _keys(at: AppTest) -> set[str]:
    return {button.key for button in at.button}


def test_pause_asks_the_training_to_pause_and_says_so(runs_dir, fake):
    run = _running(runs_dir, fake)
    at = train_page()
    assert not at.exception and set(STEER_KEYS) <= _keys(at) and "steer_resume" not in _keys(at)
    assert "stop_training" in _keys(at)
    at.button(key="steer_pause").click().run()
    assert not at.exception and not at.error
    assert _asked(run) == [("pause", None, "")]
    # The rate and last-epoch inputs stay on the page in the run that carries the click.
    assert {"steer_lr", "steer_epochs"} <= {box.key for box in at.number_input}
    assert [toast.value for toast in at.toast] == [
        f"Asked {run.id}: pause. The training answers after its current batch."
    ]


@pytest.mark.parametrize("key, action", [("steer_step", "step"), ("steer_stop_after_epoch", "stop_after_epoch")])
def test_one_more_epoch_and_stop_after_this_epoch_are_asked(runs_dir, fake, key, action):
    run = _running(runs_dir, fake)
    train_page().button(key=key).click().run()
    assert _asked(run) == [(action, None, "")]


def test_a_paused_training_says_so_and_offers_resume(runs_dir, fake, monkeypatch):
    monkeypatch.setenv("CIFAR_PAUSE_MINUTES", "5")
    two_minutes_ago = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    run = _running(runs_dir, fake, paused_since=two_minutes_ago, paused_by="Emma")
    at = train_page()
    assert not at.exception and "steer_pause" not in _keys(at)
    (warning,) = at.warning
    assert warning.value == (
        "**Paused for 2 min by Emma.** Resume to go on. Unless resumed within 3 min, it stops then, keeping its "
        "finished epochs, and gives its place in line to others."
    )
    at.button(key="steer_resume").click().run()
    assert _asked(run) == [("resume", None, "")]


def test_a_new_rate_and_a_new_last_epoch_are_asked_with_their_values(runs_dir, fake):
    run = _running(runs_dir, fake)
    at = train_page()
    assert at.number_input(key="steer_lr").value == TINY.learning_rate
    assert at.number_input(key="steer_epochs").value == 5  # where the run ends now
    at.number_input(key="steer_lr").set_value(0.0001)
    at.button(key="steer_lr_apply").click().run()
    at.number_input(key="steer_epochs").set_value(8)
    at.button(key="steer_epochs_apply").click().run()
    assert not at.exception and not at.error
    assert _asked(run) == [("lr", 0.0001, ""), ("epochs", 8, "")]


@pytest.mark.parametrize("rate", [0.0, 12.0])
def test_a_rate_out_of_range_is_refused_in_words_and_nothing_is_asked(runs_dir, fake, rate):
    run = _running(runs_dir, fake)
    at = train_page()
    at.number_input(key="steer_lr").set_value(rate)
    at.button(key="steer_lr_apply").click().run()
    assert not at.exception and not at.toast
    (error,) = at.error
    assert error.value.startswith("Not asked: a learning rate must be a number above 0 and at most 10")
    assert not run.files.control.exists()


def test_a_queued_training_offers_stop_and_no_steering(runs_dir, fake):
    _running(runs_dir, fake, state="queued")
    at = train_page()
    assert not at.exception and "stop_training" in _keys(at) and not _keys(at) & set(STEER_KEYS)


@pytest.fixture
def a_class(monkeypatch, runs_dir):
    monkeypatch.setenv("CIFAR_CLASS_CODE", CLASS.code)
    monkeypatch.setenv("CIFAR_TEACHER_PASSWORD", CLASS.teacher_password)


def test_only_the_owner_and_a_teacher_see_the_panel(a_class, runs_dir, fake):
    ann = sign_in_with_code(CLASS, runs_dir, "Ann", "owl42")
    run = _running(runs_dir, fake, person=ann.person, paused_since=now_iso(), paused_by="Ann")
    bob = train_page(sign_in_with_code(CLASS, runs_dir, "Bob", "owl42").token)
    assert not bob.exception and not _keys(bob) & {*STEER_KEYS, "steer_resume", "stop_training"}
    (warning,) = bob.warning  # the pause is said to all, and Resume to those who may
    assert "by Ann.** Unless resumed within" in warning.value
    for token in (ann.token, sign_in_teacher(CLASS, runs_dir, "sesame").token):
        at = train_page(token)
        assert not at.exception and {"steer_resume", "steer_step", "steer_lr_apply"} <= _keys(at)
    at.button(key="steer_resume").click().run()
    assert _asked(run) == [("resume", None, "Teacher")]


def test_results_lists_a_runs_changes_and_its_curves_mark_them(finished_run, runs_dir):
    shutil.copytree(finished_run.path, runs_dir / finished_run.id)
    run = open_run(finished_run.id, runs_dir)
    place = {"epoch": 2, "batch": 1, "batches": 10, "learning_rate": 0.001, "time": 1_765_000_000.0}
    with open(run.files.events, "a") as log:
        for action, value, outcome in [("pause", None, "done"), ("lr", 0.0001, "done"), ("lr", 20, "refused"),
                                       ("resume", None, "done")]:  # fmt: skip
            event = {"type": "control", "action": action, "who": "Ann", "outcome": outcome, "detail": "", **place}
            log.write(json.dumps(event | ({"value": value} if value else {})) + "\n")
    at = app_page("results")
    at.query_params["run"] = run.id
    at.run()
    assert not at.exception
    # AppTest keeps no key of a dataframe's: the changes are the table with a "what" column
    (table,) = [frame.value for frame in at.dataframe if "what" in frame.value.columns]
    assert list(table["what"]) == ["pause", "learning rate 0.0001", "learning rate 20", "resume"]
    assert list(table["outcome"]) == ["done", "done", "refused", "done"]
    for chart in at.get("plotly_chart")[:2]:
        figure = json.loads(chart.proto.spec)
        (line,) = figure["layout"]["shapes"]
        (label,) = figure["layout"]["annotations"]
        assert line["x0"] == 1.1 and (label["x"], label["text"]) == (1.1, "paused, lr 0.0001, resumed")


def test_the_live_curves_mark_where_the_course_changed(runs_dir, fake):
    run = _running(runs_dir, fake)
    batch = {"type": "batch", "epochs": 5, "batches": 10, "loss": 2.0, "accuracy": 0.2}
    with open(run.files.events, "a") as log:
        log.write(json.dumps(batch | {"epoch": 1, "batch": 4}) + "\n")
        control = {"type": "control", "action": "lr", "value": 0.01, "who": "Ann", "outcome": "done", "detail": ""}
        log.write(json.dumps(control | {"epoch": 1, "batch": 4, "batches": 10}) + "\n")
        log.write(json.dumps(batch | {"epoch": 1, "batch": 8}) + "\n")
    at = train_page()
    assert not at.exception
    live, epochs = (json.loads(chart.proto.spec)["layout"] for chart in at.get("plotly_chart"))
    # 4 of 10 batches into epoch 1: 0.4 epochs done, on the batch chart and the epoch chart alike
    for layout in (live, epochs):
        assert [shape["x0"] for shape in layout["shapes"]] == [0.4]
        assert [(label["x"], label["text"]) for label in layout["annotations"]] == [(0.4, "lr 0.01")]
