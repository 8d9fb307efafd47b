"""Continuing a run (`--resume`, the Train page's Continue): a new training that carries its parent's curves on."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from helpers import run_cli, wait_for_end

from cifar.launch import launcher
from cifar.runs.owner import ALONE
from cifar.runs.run import open_run, open_run_dir


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
    child = open_run_dir(launcher.prepare_resume(parent, 2, runs_dir, person=ALONE))
    event = {"type": "batch", "time": 0, "epoch": 3, "batch": 5, "batches": 10, "eta_seconds": 1}
    with open(child.files.events, "w") as handle:
        handle.write(json.dumps(event) + "\n")
    progress = child.progress()
    assert progress.epochs == 4 and math.isclose(progress.fraction, 0.25)


def test_resume_through_jobs_runs_as_its_own_process(parent):
    child = launcher.resume(parent, 1, person=ALONE)
    assert child.path.parent == parent.path.parent
    assert wait_for_end(child).state == "finished", child.files.log.read_text()
    assert child.history()["epoch"] == [1, 2, 3]
