"""Asking a running training to change course (cifar/launch/steer.py): who may, which runs,
which values, the class's limits, and requests made at once."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from helpers import TINY

from cifar.errors import ConfigError, NotAllowed, RunError
from cifar.launch import launcher
from cifar.launch.rules import ClassRules, set_rules
from cifar.launch.steer import steer
from cifar.runs.audit import read_audit
from cifar.runs.control import read_requests
from cifar.runs.owner import Person
from cifar.runs.run import Run
from cifar.runs.status import write_status

ANN = Person("Ann", "name:ann", "class code", "student", "s-ann")
BOB = Person("Bob", "name:bob", "class code", "student", "s-bob")
TEACHER = Person("Teacher", "teacher", "teacher password", "teacher")


def _run(runs_dir: Path, fake_backend, state: str = "running", person: Person = ANN, **status) -> Run:
    run = Run(launcher.prepare_run(TINY, runs_dir, "steered", person=person, backend=fake_backend))
    write_status(run.files.status, run.written_status().replace(state=state, pid=os.getpid(), pid_start=None, **status))
    return run


def _batch(run: Run, epoch: int, batch: int, batches: int = 10) -> None:
    with open(run.files.events, "a") as log:
        log.write(json.dumps({"type": "batch", "epoch": epoch, "epochs": 5, "batch": batch, "batches": batches}) + "\n")


def test_the_owner_asks_and_the_request_lands_in_the_control_file_and_the_audit_log(runs_dir, fake_backend):
    run = _run(runs_dir, fake_backend)
    request = steer(run, "lr", 0.0001, person=ANN)
    requests, problems = read_requests(run.files.control)
    assert requests == [request] and not problems
    assert (request.action, request.value, request.who) == ("lr", 0.0001, "Ann")
    (line,) = [entry for entry in read_audit(runs_dir).entries if entry.action == "steer"]
    assert (line.who, line.run, line.outcome, line.detail) == ("Ann", run.id, "done", "learning rate 0.0001")


def test_a_teacher_may_steer_a_students_run_and_another_student_may_not(runs_dir, fake_backend):
    run = _run(runs_dir, fake_backend)
    steer(run, "pause", person=TEACHER)
    with pytest.raises(NotAllowed, match="only the person who launched it and a teacher may steer it"):
        steer(run, "resume", person=BOB)
    assert [request.action for request in read_requests(run.files.control)[0]] == ["pause"]
    refused = [entry for entry in read_audit(runs_dir).entries if entry.outcome == "refused"]
    assert [(entry.who, entry.action) for entry in refused] == [("Bob", "steer")]


@pytest.mark.parametrize(
    "state, said", [("queued", "is queued: it can be steered once it trains"), ("finished", "Continue it"),
                    ("failed", "is failed: only a training that is running")],
)  # fmt: skip
def test_a_run_that_is_not_training_cannot_be_steered(runs_dir, fake_backend, state, said):
    run = _run(runs_dir, fake_backend, state)
    with pytest.raises(RunError, match=said):
        steer(run, "pause", person=ANN)
    assert not run.files.control.exists()


@pytest.mark.parametrize("rate", [0, -0.001, float("nan"), float("inf"), 11, True, "fast", None])
def test_a_rate_that_is_no_rate_is_refused_with_what_is_allowed(runs_dir, fake_backend, rate):
    run = _run(runs_dir, fake_backend)
    with pytest.raises(ConfigError, match="a learning rate must be a number above 0 and at most 10"):
        steer(run, "lr", rate, person=ANN)
    assert not run.files.control.exists()


def test_epochs_before_the_one_under_way_or_past_the_limit_are_refused(runs_dir, fake_backend):
    run = _run(runs_dir, fake_backend, epoch=2)
    _batch(run, 3, 4)
    for epochs in (1, 2, 501):
        with pytest.raises(ConfigError, match="at epoch 3: it can end at epoch 3 at the earliest and 500"):
            steer(run, "epochs", epochs, person=ANN)
    for epochs in (4.5, float("inf"), float("nan"), "12", None):
        with pytest.raises(ConfigError, match="whole number"):
            steer(run, "epochs", epochs, person=ANN)
    assert steer(run, "epochs", 3, person=ANN).value == 3


def test_a_student_cannot_steer_past_the_class_s_most_epochs(runs_dir, fake_backend):
    set_rules(TEACHER, ClassRules(max_epochs=5), runs_dir)
    run = _run(runs_dir, fake_backend, epoch=4)
    _batch(run, 5, 10)  # epoch 5 has just finished its last batch: a step would train epoch 6
    with pytest.raises(NotAllowed, match="at most 5 epochs a run; this would train to epoch 8"):
        steer(run, "epochs", 8, person=ANN)
    with pytest.raises(NotAllowed, match="this would train to epoch 6"):
        steer(run, "step", person=ANN)
    steer(run, "epochs", 5, person=ANN)
    steer(run, "epochs", 8, person=TEACHER)  # a teacher is not held by the class's limits
    assert [request.value for request in read_requests(run.files.control)[0]] == [5, 8]


def test_requests_made_at_once_all_land_in_order(runs_dir, fake_backend):
    run = _run(runs_dir, fake_backend)
    start = threading.Barrier(12)

    def ask(rate: float) -> None:
        start.wait()
        steer(run, "lr", rate, person=ANN)

    threads = [threading.Thread(target=ask, args=(0.001 * (index + 1),)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    requests, problems = read_requests(run.files.control)
    assert not problems and len(requests) == 12
    assert sorted(request.value for request in requests) == pytest.approx([0.001 * (i + 1) for i in range(12)])
    assert [request.id for request in requests] == sorted({request.id for request in requests})


def test_a_student_s_experiment_run_keeps_its_rate_and_epochs_but_may_pause(runs_dir, fake_backend):
    run = _run(runs_dir, fake_backend, experiment="drop", cell=(0, 1))
    for action, value in (("lr", 0.0001), ("epochs", 9)):
        with pytest.raises(NotAllowed, match="trains a cell of the class experiment drop"):
            steer(run, action, value, person=ANN)
    steer(run, "pause", person=ANN)
    steer(run, "lr", 0.0001, person=TEACHER)
    assert [request.action for request in read_requests(run.files.control)[0]] == ["pause", "lr"]
