"""Continuing a run (`--resume`, the Train page's Continue) and deleting one."""

from __future__ import annotations

import json
import math
import os
import shutil

import pytest
from helpers import TINY, run_cli, wait_for_end

from cifar.atomic import write_json_atomic
from cifar.errors import RunError
from cifar.launch import launcher
from cifar.runs.run import list_runs, open_run, open_run_dir
from cifar.runs.status import write_status


@pytest.fixture
def parent(finished_run, runs_dir):
    """A copy of the finished two-epoch run in this test's own runs folder."""
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    return open_run(run.id, runs_dir)


def test_resume_from_the_command_line_carries_the_curves_on(parent, runs_dir):
    before = {p.name: p.stat().st_mtime_ns for p in parent.path.rglob("*")}
    result = run_cli("train", "--resume", parent.id, "--epochs", "2", "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    child = open_run_dir(result.stdout.splitlines()[0])
    assert child.id != parent.id and child.path.parent == runs_dir
    status = launcher.status(child)
    assert status.state == "finished"
    assert status.resumed_from == parent.id and status.start_epoch == 2 and status.epoch == 4
    assert child.config() == parent.config().replace(epochs=4)

    history, earlier = child.history(), parent.history()
    assert history["epoch"] == [1, 2, 3, 4]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert history[key][:2] == earlier[key]
    assert child.prediction_epochs() == [1, 2, 3, 4]
    start = next(e for e in child.events()[0] if e["type"] == "start")
    assert start["start_epoch"] == 2
    # Optimizer state came along: its step count goes on from the parent's two epochs.
    steps = start["steps"]
    assert int(child.load_model().optimizer.iterations) == 4 * steps
    assert int(parent.load_model().optimizer.iterations) == 2 * steps
    # The parent is untouched.
    assert {p.name: p.stat().st_mtime_ns for p in parent.path.rglob("*")} == before
    assert parent.history() == earlier


def test_resume_progress_counts_the_new_epochs_only(parent, runs_dir):
    child = open_run_dir(launcher.prepare_resume(parent, 2, runs_dir))
    event = {"type": "batch", "time": 0, "epoch": 3, "batch": 5, "batches": 10, "eta_seconds": 1}
    with open(child.files.events, "w") as handle:
        handle.write(json.dumps(event) + "\n")
    progress = child.progress()
    assert progress.epochs == 4 and math.isclose(progress.fraction, 0.25)


def test_resume_through_jobs_runs_as_its_own_process(parent):
    child = launcher.resume(parent, 1)
    assert child.path.parent == parent.path.parent
    assert wait_for_end(child).state == "finished", child.files.log.read_text()
    assert child.history()["epoch"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "--resume needs --epochs"),
        (["--epochs", "2", "--filters", "16"], "--filters cannot change it"),
        (["--epochs", "2", "--preset", "quick"], "--preset cannot change it"),
        (["--epochs", "0"], "epochs to add must be a whole number from 1 to 498"),
        (["--epochs", "499"], "epochs to add must be a whole number from 1 to 498"),
    ],
)
def test_resume_refuses_what_it_cannot_do(parent, runs_dir, flags, message):
    result = run_cli("train", "--resume", parent.id, "--runs-dir", str(runs_dir), *flags)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert [run.id for run in list_runs(runs_dir)] == [parent.id]  # no half-made run left behind


def test_resume_refuses_a_live_run_or_one_without_epochs(parent, runs_dir):
    _pretend_running(parent)
    with pytest.raises(RunError, match="still running"):
        launcher.resume_config(parent, 1)
    empty = open_run_dir(launcher.prepare_run(TINY, runs_dir, "empty"))
    write_status(empty.files.status, empty.written_status().replace(state="stopped"))
    with pytest.raises(RunError, match="no finished epoch"):
        launcher.resume_config(empty, 1)
    cosine = open_run_dir(launcher.prepare_run(TINY.replace(lr_schedule="cosine"), runs_dir, "cosine"))
    shutil.copyfile(parent.files.model, cosine.files.model)
    write_json_atomic(cosine.files.history, parent.history())
    write_status(cosine.files.status, cosine.written_status().replace(state="finished"))
    with pytest.raises(RunError, match=r"cosine learning-rate schedule .* Start a new run with more epochs"):
        launcher.resume_config(cosine, 1)
    result = run_cli("train", "--resume", "../elsewhere", "--epochs", "1", "--runs-dir", str(runs_dir))
    assert result.returncode == 2 and "not a run directory" in result.stderr


def test_delete_removes_the_whole_run_and_nothing_else(parent, runs_dir):
    other = open_run_dir(launcher.prepare_run(TINY, runs_dir, "other"))
    write_status(other.files.status, other.written_status().replace(state="finished"))
    launcher.delete(parent)
    assert not parent.path.exists()
    assert [run.id for run in list_runs(runs_dir)] == [other.id]
    assert sorted(p.name for p in runs_dir.iterdir() if not p.name.startswith(".")) == [other.id]
    with pytest.raises(RunError):
        open_run(parent.id, runs_dir)


def test_a_live_run_cannot_be_deleted(parent):
    _pretend_running(parent)
    with pytest.raises(RunError, match="stop it first"):
        launcher.delete(parent)
    assert parent.path.is_dir() and parent.has_model()


def _pretend_running(run) -> None:
    """Mark `run` as trained by this (live) test process."""
    write_status(run.files.status, run.written_status().replace(state="running", pid=os.getpid(), pid_start=None))
