"""Training faults for real: stops at awkward moments, and a disk that fills up mid-run."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY, run_trainer, wait_for_end, wait_until
from synthetic import write_batches

from cifar.data import load_dataset
from cifar.launch import launcher
from cifar.runs.owner import ALONE
from cifar.runs.run import open_run_dir

# A forward pass of about 3 M multiply-adds an image: validating 10,000 test images takes about
# a second, while an epoch's 10 batches of 20 training images take a fraction of one.
SLOW_VALIDATION = TINY.replace(filters=(16,), convs_per_block=2, epochs=3)
# Above every file a SLOW_VALIDATION run rewrites or appends to before an epoch's weights (the
# predictions of 10,000 images take 200 KB), below its weights file (274 KB).
FILE_LIMIT = 240_000


@pytest.fixture(scope="module")
def long_validation_dir(tmp_path_factory) -> Path:
    """Synthetic batches with CIFAR-10's 10,000 test images, so validation lasts long enough to aim at."""
    return write_batches(tmp_path_factory.mktemp("long-validation") / "cifar-10-batches-py", train=200, test=10_000)


def _launch_long(batches_dir, runs_dir):
    config = TINY.replace(epochs=300, batch_size=2)  # 100 steps an epoch: minutes in all
    return launcher.launch(config, runs_dir=runs_dir, data=batches_dir, name="long", person=ALONE)


def _events(run, kind: str) -> list[dict]:
    return [event for event in run.events()[0] if event["type"] == kind]


def _assert_no_temporary_files(path: Path) -> None:
    assert not [p.name for p in path.rglob("*") if ".tmp" in p.name]


def test_stop_during_the_first_batch_leaves_no_model_and_says_so(batches_dir, runs_dir):
    run = _launch_long(batches_dir, runs_dir)
    wait_until(lambda: _events(run, "start"), what="training to start")
    launcher.stop(run, person=ALONE)
    status = wait_for_end(run)
    assert status.state == "stopped" and "no epoch had finished, so there is no model" in status.message
    assert not run.has_model() and not run.history().get("epoch") and run.prediction_epochs() == []


def test_stop_during_validation_keeps_that_epoch_whole(long_validation_dir, runs_dir):
    run = launcher.launch(SLOW_VALIDATION, runs_dir=runs_dir, data=long_validation_dir, name="validating", person=ALONE)
    wait_until(lambda: _events(run, "validate"), what="epoch 1's validation")
    pid = launcher.status(run).pid
    # Held still inside epoch 1's validation (after its "validate" event, before its "epoch"
    # event) while the stop is asked for: the stop file and SIGTERM reach it there.
    os.kill(pid, signal.SIGSTOP)
    try:
        assert not _events(run, "epoch") and not run.history().get("epoch"), "validation ended before the stop"
        assert launcher.stop(run, person=ALONE) is True
    finally:
        os.kill(pid, signal.SIGCONT)
    status = wait_for_end(run)
    steps = _events(run, "start")[0]["steps"]
    # Honoured at the first check after the validation: after the first batch of epoch 2.
    assert status.state == "stopped" and status.epoch == 1
    assert status.message == f"Stopped on request during epoch 2 (batch 1 of {steps}); the run keeps epoch 1."
    assert [event["batch"] for event in _events(run, "batch") if event["epoch"] == 2] in ([], [1])
    # Epoch 1 whole: its history, predictions of every test image, weights and model.
    assert run.history()["epoch"] == [1] and run.prediction_epochs() == [1] and run.weight_epochs() == [1]
    assert run.predictions(1).shape == (10_000, 10)
    model = run.load_model()
    assert int(model.optimizer.iterations) == steps  # epoch 1's model, not a part of epoch 2
    with np.load(run.files.weights_file(1)) as stored:
        for index, weight in enumerate(model.get_weights()):
            np.testing.assert_array_equal(stored[f"w{index:04d}"], weight)
    _assert_no_temporary_files(run.path)


def test_a_full_disk_keeps_the_epochs_saved_before_it(long_validation_dir, runs_dir):
    run = launcher.launch(SLOW_VALIDATION, runs_dir=runs_dir, data=long_validation_dir, name="full-disk", person=ALONE)
    wait_until(lambda: run.history().get("epoch") or not launcher.status(run).live, what="epoch 1 to be saved")
    assert run.history()["epoch"] == [1] and launcher.status(run).state == "running"
    # From now on no file of the training may grow past FILE_LIMIT, as on a disk that is full.
    # Python ignores SIGXFSZ, so the write past it fails with EFBIG ("File too large").
    resource.prlimit(launcher.status(run).pid, resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    status = wait_for_end(run)
    assert status.state == "failed", status
    assert status.error.startswith("Could not write the run (File too large): ") and "disk has room" in status.error
    end = _events(run, "end")[-1]
    assert (end["state"], end["error"]) == ("failed", status.error)
    # Epoch 2's save began (its predictions are on disk) and failed at its weights.
    assert run.files.prediction(2).stat().st_size < FILE_LIMIT < run.files.weights_file(1).stat().st_size
    # Epoch 1 is kept whole and loadable; epoch 2 is claimed nowhere and left no half-written file.
    assert run.history()["epoch"] == [1] and status.epoch == 1
    assert run.prediction_epochs() == [1] and run.predictions().shape == (10_000, 10)
    assert run.weight_epochs() == [1] and not run.files.weights_file(2).exists()
    model = run.load_model()
    assert int(model.optimizer.iterations) == _events(run, "start")[0]["steps"]
    _assert_no_temporary_files(run.path)


def _limit_file_size(limit: int):
    def apply() -> None:
        # Files may not grow past `limit` bytes: writes fail with EFBIG as on a full disk.
        # SIGXFSZ would kill the process outright; ignored, the write reports the error instead.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_disk_full_from_the_start_leaves_no_epoch_and_no_model(batches_dir, runs_dir):
    load_dataset(batches_dir)  # the decoded cache exists already: only the run's files are written
    path = launcher.prepare_run(TINY.replace(dense_units=256), runs_dir, "full-disk", batches_dir, person=ALONE)
    process = run_trainer(
        path,
        timeout=300,
        preexec_fn=_limit_file_size(200_000),  # the first epoch's weights (~2.1 MB) cannot be written
    )
    run = open_run_dir(path)
    status = launcher.status(run)
    assert process.returncode == 1, process.stderr
    assert status.error.startswith("Could not write the run (File too large): "), status
    assert status.state == "failed" and "disk has room" in status.error
    # Nothing half-written is left for a reader: no model, no temporary files, no epoch claimed.
    assert not run.has_model() and not run.history().get("epoch") and status.epoch == 0
    assert run.prediction_epochs() == []  # the epoch's predictions were written, but it never finished
    assert run.files.prediction(1).is_file() and not run.files.weights_file(1).exists()
    _assert_no_temporary_files(path)
    assert _events(run, "end")[-1]["state"] == "failed"
