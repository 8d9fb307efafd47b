"""The launcher (cifar/launch/launcher.py): preparing a run folder whole or not at all, how a run
stands, stopping, ending overdue stops, the server's sweep, continuing and deleting. Most runs
here belong to a fake backend (helpers.FakeBackend), so nothing trains unless a test says so."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import threading
import types
from pathlib import Path

import pytest
from helpers import TINY, FakeBackend, registered, run_cli, wait_for_end, wait_until

from cifar.atomic import write_json_atomic
from cifar.config.settings import MAX_EPOCHS
from cifar.errors import ConfigError, NotAllowed, RunError
from cifar.launch import backends, launcher
from cifar.launch.rules import ClassRules, set_rules
from cifar.runs.audit import read_audit
from cifar.runs.owner import ALONE, Person, administrator, alone
from cifar.runs.run import Run, list_runs, open_run, open_run_dir
from cifar.runs.status import write_status

WRITABLE = "check that the runs folder is writable and the disk has room"


@pytest.fixture
def parent(finished_run, runs_dir):
    """A copy of the finished two-epoch run in this test's own runs folder."""
    shutil.copytree(finished_run.path, runs_dir / finished_run.id)
    return open_run(finished_run.id, runs_dir)


def _prepared(runs_dir: Path, backend: FakeBackend, name: str = "run", who: str = "") -> Run:
    return Run(launcher.prepare_run(TINY, runs_dir, name, person=alone(who), backend=backend))


def _set_state(run: Run, state: str) -> None:
    write_status(run.files.status, run.written_status().replace(state=state))


def _folders(runs_dir: Path) -> list[str]:
    """What a listing could see: every folder but the queue's and slots' hidden ones."""
    return sorted(path.name for path in runs_dir.iterdir() if not path.name.startswith("."))


def _pretend_running(run) -> None:
    """Mark `run` as trained by this (live) test process."""
    write_status(run.files.status, run.written_status().replace(state="running", pid=os.getpid(), pid_start=None))


# --- prepare_run -----------------------------------------------------------------------------


def test_a_prepared_run_holds_its_config_and_a_queued_status_and_nothing_else(
    fake_backend, runs_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    path = launcher.prepare_run(
        TINY, runs_dir, "My First Run!", data="data/cifar", person=alone("  Ann   Lee "), backend=fake_backend
    )
    assert path.parent == runs_dir and re.fullmatch(r"\d{8}-\d{6}-my-first-run-[0-9a-f]{4}", path.name), path.name
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "status.json"]
    assert json.loads((path / "config.json").read_text()) == TINY.to_dict()
    status = json.loads((path / "status.json").read_text())
    assert (status["state"], status["name"], status["who"], status["backend"]) == (
        "queued",
        "My First Run!",
        "Ann Lee",
        "fake",
    )
    assert (status["job_id"], status["epochs"], status["epoch"]) == (path.name, 2, 0)
    assert status["data_path"] == str(tmp_path / "data" / "cifar")  # absolute: the trainer runs elsewhere
    assert fake_backend.calls == []  # prepared, not started


def test_a_persons_second_live_run_takes_their_next_turn(fake_backend, runs_dir):
    turns = [
        _prepared(runs_dir, fake_backend, who=who).written_status().queue_turn for who in ("ann", "ann", "bob", "ann")
    ]
    assert turns == [0, 1, 0, 2]


def test_runs_prepared_with_one_name_at_once_each_get_their_own_folder(fake_backend, runs_dir):
    paths = [launcher.prepare_run(TINY, runs_dir, "same", backend=fake_backend, person=ALONE) for _ in range(20)]
    assert len(set(paths)) == 20 and _folders(runs_dir) == sorted(path.name for path in paths)


@pytest.mark.parametrize("bad", ["x" * 41, "ann\x00", "tab\x07bell"])
def test_a_name_that_is_not_one_is_refused_before_anything_is_written(bad, runs_dir):
    with pytest.raises(ConfigError, match="name"):
        launcher.prepare_run(TINY, runs_dir=runs_dir, person=alone(bad))
    assert not [path for path in runs_dir.iterdir() if not path.name.startswith(".")]


@pytest.mark.parametrize("writer", ["write_status", "save_config"])
def test_a_write_that_fails_leaves_no_half_made_run_and_says_why_in_words(writer, fake_backend, runs_dir, monkeypatch):
    tried = []

    def full_disk(*args):
        path = next(arg for arg in args if isinstance(arg, Path))  # write_status(path, ..), save_config(.., path)
        tried.append(path)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(launcher, writer, full_disk)
    with pytest.raises(RunError) as raised:
        launcher.prepare_run(TINY, runs_dir, "full", backend=fake_backend, person=ALONE)
    (path,) = tried
    assert str(raised.value) == (
        f"Could not write the new run {path.parent.name} (No space left on device: {path}): {WRITABLE}"
    )
    assert isinstance(raised.value.__cause__, OSError)
    assert _folders(runs_dir) == [] and list_runs(runs_dir) == []


def test_an_interrupted_prepare_leaves_no_half_made_run(fake_backend, runs_dir, monkeypatch):
    class Interrupted(BaseException):
        """As Ctrl-C in the middle of writing: not an error, but the run is not made either."""

    def interrupted(config, path):
        raise Interrupted

    monkeypatch.setattr(launcher, "save_config", interrupted)
    with pytest.raises(Interrupted):
        launcher.prepare_run(TINY, runs_dir, "cut", backend=fake_backend, person=ALONE)
    assert _folders(runs_dir) == []


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("runs", "File exists"),  # the runs folder is a file
        ("runs/inside", "Not a directory"),  # under a file: it cannot be created
        ("/proc/cifar-runs", None),  # a place no one, not even root, may create a folder
    ],
)
def test_a_runs_folder_that_is_a_file_or_cannot_be_created_is_refused_in_words(where, why, tmp_path, fake_backend):
    (tmp_path / "runs").write_text("not a folder")
    blocked = tmp_path / where
    with pytest.raises(RunError) as raised:
        launcher.prepare_run(TINY, blocked, backend=fake_backend, person=ALONE)
    said = str(raised.value)
    assert said.startswith(f"Cannot create a run in {blocked} (") and said.endswith(
        "): the runs folder must be a writable folder (set CIFAR_RUNS_DIR or --runs-dir to choose another)."
    )
    assert why is None or f"({why})" in said
    assert (tmp_path / "runs").read_text() == "not a folder" and not Path("/proc/cifar-runs").exists()


# --- status and stop -------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["finished", "stopped", "failed"])
def test_the_status_of_an_ended_run_is_the_written_one_without_asking_its_backend(state, fake_backend, runs_dir):
    run = _prepared(runs_dir, fake_backend)
    _set_state(run, state)
    fake_backend.states[run.id] = "running"  # what the backend would say, were it asked
    assert launcher.status(run) == run.written_status() and launcher.status(run).state == state
    assert fake_backend.asked("status") == []


def test_the_status_of_a_live_run_is_its_backends_word(fake_backend, runs_dir, monkeypatch):
    run = _prepared(runs_dir, fake_backend)
    fake_backend.states[run.id] = "running"
    assert launcher.status(run) == run.written_status().replace(state="running")
    monkeypatch.delitem(backends.BY_NAME, fake_backend.name)  # a backend this version does not know
    assert launcher.status(run).state == "queued"


def test_stop_asks_the_backend_of_a_live_run_only(fake_backend, runs_dir):
    live, ended = _prepared(runs_dir, fake_backend, "live"), _prepared(runs_dir, fake_backend, "ended")
    _set_state(ended, "finished")
    assert launcher.stop(live, person=ALONE) is True and launcher.stop(ended.id, runs_dir, person=ALONE) is False
    assert fake_backend.asked("stop") == [live.id]
    assert launcher.stop(live, person=ALONE) is False  # stopped now: nothing to ask
    assert fake_backend.asked("stop") == [live.id]


def test_a_stop_the_system_refuses_is_a_run_error_in_words(fake_backend, runs_dir, monkeypatch):
    run = _prepared(runs_dir, fake_backend)

    def read_only(run):
        raise OSError(errno.EROFS, "Read-only file system", str(run.files.stop))

    monkeypatch.setattr(fake_backend, "stop", read_only)
    with pytest.raises(RunError) as raised:
        launcher.stop(run, person=ALONE)
    assert (
        str(raised.value) == f"Could not ask run {run.id} to stop (Read-only file system: {run.files.stop}): {WRITABLE}"
    )


def test_stop_twice_in_a_row_stops_once(batches_dir, runs_dir):
    run = launcher.launch(
        TINY.replace(epochs=300, batch_size=2), runs_dir=runs_dir, data=batches_dir, name="long", person=ALONE
    )
    wait_until(lambda: any(event["type"] == "batch" for event in run.events()[0]), what="the first batch")
    assert launcher.stop(run, person=ALONE) is True
    launcher.stop(run, person=ALONE)  # a second press before the first has landed: harmless
    status = wait_for_end(run)
    assert status.state == "stopped" and [e["type"] for e in run.events()[0]].count("end") == 1
    assert launcher.stop(run, person=ALONE) is False


# --- overdue stops, waiting for a stop, the sweep ----------------------------------------------


def test_end_overdue_stops_asks_only_live_runs_with_a_stop_file(fake_backend, runs_dir):
    runs = {name: _prepared(runs_dir, fake_backend, name) for name in "abcdf"}
    unknown = Run(launcher.prepare_run(TINY, runs_dir, "e", backend=FakeBackend(name="gone"), person=ALONE))
    _set_state(runs["d"], "stopped")
    for run in [*(runs[name] for name in "abdf"), unknown]:
        run.files.stop.touch()
    fake_backend.overdue[runs["a"].id] = "a was ended."
    fake_backend.overdue[runs["b"].id] = RunError("the cluster does not answer")
    said = launcher.end_overdue_stops(runs_dir)
    # c has no stop file, d has ended, e's backend is unknown here; f's stop is not overdue yet.
    assert fake_backend.asked("end_overdue") == [runs["f"].id, runs["b"].id, runs["a"].id]  # newest first, as listed
    assert said == [
        f"Run {runs['b'].id} was asked to stop and has not, and could not be ended: the cluster does not answer",
        "a was ended.",
    ]


def test_wait_for_stop_does_not_wait_where_the_backend_has_no_grace(fake_backend, runs_dir, monkeypatch):
    run = _prepared(runs_dir, fake_backend)
    fake_backend.hung = True  # were it to wait, it would wait in vain
    assert launcher.stop(run, person=ALONE)
    assert launcher.wait_for_stop(run) is None
    assert (
        fake_backend.asked("status") == [run.id] and fake_backend.asked("end_overdue") == []
    )  # the one status is stop's own
    monkeypatch.delitem(backends.BY_NAME, fake_backend.name)
    assert launcher.wait_for_stop(run) is None


def test_wait_for_stop_says_how_a_run_that_stopped_in_its_grace_ended(monkeypatch, runs_dir):
    graceful = FakeBackend(name="graceful", grace=0.0)
    registered(monkeypatch, graceful)
    run = _prepared(runs_dir, graceful)
    launcher.stop(run, person=ALONE)
    assert launcher.wait_for_stop(run) == f"{run.id} is stopped: it has ended"
    assert graceful.asked("end_overdue") == []


def test_wait_for_stop_has_the_backend_end_a_run_that_did_not_stop(monkeypatch, runs_dir):
    hung = FakeBackend(name="hung", grace=0.0, hung=True)
    registered(monkeypatch, hung)
    run = _prepared(runs_dir, hung)
    hung.overdue[run.id] = "It had not stopped, so its job was ended."
    launcher.stop(run, person=ALONE)
    assert launcher.wait_for_stop(run) == f"{run.id} is stopped: it has ended"
    assert hung.asked("end_overdue") == [run.id]


def test_wait_for_stop_says_so_when_a_run_has_not_ended_after_all(monkeypatch, runs_dir):
    hung = FakeBackend(name="hung", grace=0.0, hung=True)  # and nothing is overdue to end
    registered(monkeypatch, hung)
    monkeypatch.setattr(launcher, "ENDING_SECONDS", 0.2)
    run = _prepared(runs_dir, hung)
    launcher.stop(run, person=ALONE)
    said = launcher.wait_for_stop(run)
    assert said.startswith(f"{run.id} is still queued, 0.2 s after it was asked to stop; ask again"), said


def test_a_continuation_starts_with_copies_of_what_its_parent_finished(parent, fake_backend):
    path = launcher.prepare_resume(parent, 3, backend=fake_backend, person=ALONE)
    child = open_run_dir(path)
    assert path.parent == parent.path.parent
    # The parent was trained without --run-name, so it is named after the tutorial preset.
    assert re.fullmatch(r"\d{8}-\d{6}-tutorial-more-[0-9a-f]{4}", child.id), child.id
    assert json.loads(child.files.config.read_text())["epochs"] == 5  # 2 finished, 3 more
    copied = ["model.keras", "labels.npy", "history.json", "predictions/epoch-001.npy", "predictions/epoch-002.npy"]
    for name in [*copied, "weights/epoch-001.npz", "weights/epoch-002.npz"]:
        assert (child.path / name).read_bytes() == (parent.path / name).read_bytes(), name
    assert sorted(p.name for p in child.files.predictions.iterdir()) == ["epoch-001.npy", "epoch-002.npy"]
    status, before = json.loads(child.files.status.read_text()), json.loads(parent.files.status.read_text())
    assert (status["resumed_from"], status["start_epoch"]) == (parent.id, 2)
    assert (status["epoch"], status["state"]) == (2, "queued")
    assert (status["data"], status["data_path"]) == (before["data"], before["data_path"])


def test_a_continuation_that_cannot_copy_its_parent_leaves_nothing(parent, fake_backend, runs_dir):
    parent.files.labels.unlink()  # as a parent damaged by hand
    with pytest.raises(RunError) as raised:
        launcher.prepare_resume(parent, 1, backend=fake_backend, person=ALONE)
    message = str(raised.value)
    assert message.startswith("Could not write the new run ") and message.endswith(
        f"(No such file or directory: {parent.files.labels}): {WRITABLE}"
    )
    assert _folders(runs_dir) == [parent.id]


@pytest.mark.parametrize("more", [0, MAX_EPOCHS - 1, True, "2", 2.0])
def test_epochs_to_add_must_be_a_whole_number_within_the_limit(parent, more):
    with pytest.raises(ConfigError) as raised:
        launcher.resume_config(parent, more)
    assert str(raised.value) == (
        f"epochs to add must be a whole number from 1 to 498 (run {parent.id} has 2 and a run ends by epoch 500); "
        f"got {more!r}"
    )
    assert launcher.resume_config(parent, 498).epochs == 500


def test_resume_refuses_a_live_run_or_one_without_epochs(parent, runs_dir):
    _pretend_running(parent)
    with pytest.raises(RunError, match="still running"):
        launcher.resume_config(parent, 1)
    empty = open_run_dir(launcher.prepare_run(TINY, runs_dir, "empty", person=ALONE))
    write_status(empty.files.status, empty.written_status().replace(state="stopped"))
    with pytest.raises(RunError, match="no finished epoch"):
        launcher.resume_config(empty, 1)
    cosine = open_run_dir(launcher.prepare_run(TINY.replace(lr_schedule="cosine"), runs_dir, "cosine", person=ALONE))
    shutil.copyfile(parent.files.model, cosine.files.model)
    write_json_atomic(cosine.files.history, parent.history())
    write_status(cosine.files.status, cosine.written_status().replace(state="finished"))
    with pytest.raises(RunError, match=r"cosine learning-rate schedule .* Start a new run with more epochs"):
        launcher.resume_config(cosine, 1)
    result = run_cli("train", "--resume", "../elsewhere", "--epochs", "1", "--runs-dir", str(runs_dir))
    assert result.returncode == 2 and "not a run directory" in result.stderr


# --- deleting ----------------------------------------------------------------------------------


def test_delete_removes_the_whole_run_and_nothing_else(parent, runs_dir):
    other = open_run_dir(launcher.prepare_run(TINY, runs_dir, "other", person=ALONE))
    write_status(other.files.status, other.written_status().replace(state="finished"))
    launcher.delete(parent, person=ALONE)
    assert not parent.path.exists()
    assert [run.id for run in list_runs(runs_dir)] == [other.id]
    assert sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) == [other.id]
    with pytest.raises(RunError):
        open_run(parent.id, runs_dir)


def test_a_live_run_cannot_be_deleted(parent):
    _pretend_running(parent)
    with pytest.raises(RunError, match="stop it first"):
        launcher.delete(parent, person=ALONE)
    assert parent.path.is_dir() and parent.has_model()


def test_a_delete_the_system_refuses_keeps_the_run_and_says_why(parent, monkeypatch):
    before = sorted(p.relative_to(parent.path) for p in parent.path.rglob("*"))

    def refuse(source, target):
        raise PermissionError(errno.EACCES, "Permission denied", str(source))

    monkeypatch.setattr(launcher, "os", types.SimpleNamespace(replace=refuse))
    with pytest.raises(RunError) as raised:
        launcher.delete(parent, person=ALONE)
    assert str(raised.value) == f"Could not delete run {parent.id} (Permission denied: {parent.path}): {WRITABLE}"
    assert sorted(p.relative_to(parent.path) for p in parent.path.rglob("*")) == before


# --- your runs are yours: the launcher refuses, whatever a page shows ----------------------

ANN = Person("Ann", "name:ann", "class code", "student", "s-ann")
BOB = Person("Bob", "name:bob", "class code", "student", "s-bob")
TEACHER = Person("Teacher", "teacher", "teacher password", "teacher")


def _audit(runs_dir: Path) -> list[tuple[str, str, str | None, str]]:
    return [(entry.who, entry.action, entry.run, entry.outcome) for entry in read_audit(runs_dir).entries]


def test_a_run_belongs_to_who_launched_it_and_a_classmate_cannot_stop_or_delete_it(fake_backend, runs_dir):
    run = launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=ANN)
    written = run.written_status()
    assert (written.who, written.owner) == ("Ann", "name:ann")
    with pytest.raises(NotAllowed, match=f"Run {run.id} is Ann's: only the person who launched it and a teacher"):
        launcher.stop(run, person=BOB)
    assert fake_backend.asked("stop") == [] and not run.stop_requested()
    assert launcher.stop(run, person=ANN) and fake_backend.asked("stop") == [run.id]
    with pytest.raises(NotAllowed, match="may delete it"):
        launcher.delete(run, person=BOB)
    assert run.path.is_dir()
    launcher.delete(run, person=ANN)
    assert not run.path.exists()
    assert _audit(runs_dir) == [
        ("Ann", "launch", run.id, "done"),
        ("Bob", "stop", run.id, "refused"),
        ("Ann", "stop", run.id, "done"),
        ("Bob", "delete", run.id, "refused"),
        ("Ann", "delete", run.id, "done"),
    ]


@pytest.mark.parametrize("keyholder", [TEACHER, administrator("root")])
def test_a_teacher_and_the_servers_command_line_stop_and_delete_any_run(fake_backend, runs_dir, keyholder):
    run = launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=ANN)
    assert launcher.stop(run, person=keyholder)
    launcher.delete(run, person=keyholder)
    assert not run.path.exists()


def test_a_classmate_cannot_continue_anothers_run_and_the_owner_can(parent, fake_backend, runs_dir):
    status = parent.written_status().replace(who="Ann", owner="name:ann")
    write_status(parent.files.status, status)
    with pytest.raises(NotAllowed, match="may continue it"):
        launcher.prepare_resume(parent, 1, backend=fake_backend, person=BOB)
    assert list_runs(runs_dir) == [parent]  # nothing was made
    child = Run(launcher.prepare_resume(parent, 1, backend=fake_backend, person=ANN))
    assert child.written_status().owner == "name:ann"
    assert Run(launcher.prepare_resume(parent, 1, backend=fake_backend, person=TEACHER)).written_status().owner == (
        "teacher"
    )


def test_a_run_launched_alone_is_the_teachers_to_act_on_once_a_class_signs_in(fake_backend, runs_dir):
    run = launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=alone("Ann"))
    with pytest.raises(NotAllowed, match="is Ann's"):
        launcher.stop(run, person=ANN)  # the name alone proves nothing
    assert launcher.stop(run, person=TEACHER)


def test_a_students_third_waiting_run_is_refused_and_recorded(fake_backend, runs_dir):
    first = launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=ANN)
    launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=ANN)
    with pytest.raises(NotAllowed, match="the class allows 2 at once"):
        launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=ANN)
    assert len(list_runs(runs_dir)) == 2
    launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=BOB)  # Bob has his own two
    launcher.stop(first, person=ANN)
    launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=ANN)  # one ended: room again
    assert ("Ann", "launch", None, "refused") in _audit(runs_dir)
    for _ in range(3):
        launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=TEACHER)  # no limit for a teacher


def test_a_student_launch_past_the_teachers_limits_is_refused(fake_backend, runs_dir):
    set_rules(TEACHER, ClassRules(max_epochs=1), runs_dir)
    with pytest.raises(NotAllowed, match="at most 1 epochs a run; this asks for 2"):
        launcher.launch(TINY.replace(epochs=2), runs_dir=runs_dir, backend=fake_backend, person=ANN)
    assert list_runs(runs_dir) == []


def test_launches_pressed_at_once_cannot_all_pass_the_waiting_limit(fake_backend, runs_dir):
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def press_launch() -> None:
        barrier.wait()
        try:
            launcher.launch(TINY, runs_dir=runs_dir, backend=fake_backend, person=BOB)
            outcomes.append("launched")
        except NotAllowed:
            outcomes.append("refused")

    threads = [threading.Thread(target=press_launch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["launched"] * 2 + ["refused"] * 6
    assert len(list_runs(runs_dir)) == 2
