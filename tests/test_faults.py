"""Training faults for real: stops at awkward moments, and a disk that fills up mid-run."""

from __future__ import annotations

import resource
import signal

import numpy as np
from helpers import TINY, run_trainer, wait_for_end, wait_until

from cifar import jobs
from cifar.data import load_dataset
from cifar.runs import open_run_dir


def _launch_long(batches_dir, runs_dir):
    config = TINY.replace(epochs=300, batch_size=2)  # 100 steps an epoch: minutes in all
    return jobs.launch(config, runs_dir=runs_dir, data=batches_dir, name="long")


def _events(run, kind: str) -> list[dict]:
    return [event for event in run.events()[0] if event["type"] == kind]


def test_stop_during_the_first_batch_leaves_no_model_and_says_so(batches_dir, runs_dir):
    run = _launch_long(batches_dir, runs_dir)
    wait_until(lambda: _events(run, "start"), what="training to start")
    jobs.stop(run)
    status = wait_for_end(run)
    assert status.state == "stopped" and "no epoch had finished, so there is no model" in status.message
    assert not run.has_model() and not run.history().get("epoch") and run.prediction_epochs() == []


def test_stop_during_validation_keeps_that_epoch_whole(batches_dir, runs_dir):
    run = _launch_long(batches_dir, runs_dir)
    wait_until(lambda: _events(run, "validate"), what="the first validation")
    jobs.stop(run)
    status = wait_for_end(run)
    assert status.state == "stopped" and status.epoch >= 1
    done = run.history()["epoch"]
    assert done == list(range(1, status.epoch + 1)) and run.prediction_epochs() == done
    assert run.predictions(done[-1]).shape == (100, 10)
    assert run.load_model().predict(np.zeros((1, 32, 32, 3), np.uint8), verbose=0).shape == (1, 10)


def test_stop_twice_in_a_row_stops_once(batches_dir, runs_dir):
    run = _launch_long(batches_dir, runs_dir)
    wait_until(lambda: _events(run, "batch"), what="the first batch")
    assert jobs.stop(run) is True
    jobs.stop(run)  # a second press before the first has landed: harmless
    status = wait_for_end(run)
    assert status.state == "stopped" and len(_events(run, "end")) == 1
    assert jobs.stop(run) is False


def _limit_file_size(limit: int):
    def apply() -> None:
        # Files may not grow past `limit` bytes: writes fail with EFBIG as on a full disk.
        # SIGXFSZ would kill the process outright; ignored, the write reports the error instead.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_write_that_fails_ends_the_run_failed_not_corrupt(batches_dir, runs_dir):
    load_dataset(batches_dir)  # the decoded cache exists already: only the run's files are written
    path = jobs.prepare_run(TINY.replace(dense_units=256), runs_dir, "full-disk", batches_dir)
    process = run_trainer(
        path,
        timeout=300,
        preexec_fn=_limit_file_size(200_000),  # the model file (~1.6 MB) cannot be written
    )
    run = open_run_dir(path)
    status = run.status()
    assert process.returncode == 1, process.stderr
    assert status.state == "failed" and "Could not write the run" in status.error, status
    assert "disk has room" in status.error
    # Nothing half-written is left for a reader: no model, no temporary files, no epoch claimed.
    assert not run.has_model() and not run.history().get("epoch") and status.epoch == 0
    assert run.prediction_epochs() == []  # the epoch's predictions were written, but it never finished
    assert not [p.name for p in path.rglob("*") if ".tmp" in p.name]
    assert _events(run, "end")[-1]["state"] == "failed"
