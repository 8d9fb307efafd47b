"""The training process for real: subprocesses on tiny synthetic data, read back with cifar.runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, TINY, TINY_FLAGS, kill_mid_epoch, run_cli, run_trainer, wait_for_end, wait_until

from cifar.errors import RunError
from cifar.launch import launcher
from cifar.runs.layout import kept_epoch
from cifar.runs.owner import ALONE
from cifar.runs.run import list_runs, open_run, open_run_dir
from cifar.study.compare import run_summary


def test_cli_prints_run_path_first_and_finishes(finished_run):
    run = finished_run
    assert run.path.parent.name.startswith("finished-runs")
    status = launcher.status(run)
    assert status.state == "finished" and status.epoch == 2
    assert status.data.train_images == 200 and status.data.test_images == 100
    assert run.config() == TINY.replace(epochs=2)


def test_run_directory_is_complete(finished_run):
    run = finished_run
    history = run.history()
    assert history["epoch"] == [1, 2]
    assert all(len(history[key]) == 2 for key in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"))
    events, offset = run.events()
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("epoch") == 2 and "batch" in kinds
    assert offset == run.files.events.stat().st_size
    batch = next(e for e in events if e["type"] == "batch")
    assert {"loss", "accuracy", "images_per_second", "eta_seconds", "batch", "batches"} <= set(batch)
    assert run.prediction_epochs() == [1, 2]
    predictions = run.predictions(1)
    assert predictions.dtype == np.float16 and predictions.shape == (100, 10)
    np.testing.assert_allclose(predictions.astype(np.float32).sum(axis=1), 1, atol=1e-2)


def test_validation_matches_an_independent_evaluation(finished_run, batches_dir):
    """The one-pass validation against Keras' own evaluate() on the saved model."""
    from cifar.data import load_dataset

    run = finished_run
    dataset = load_dataset(batches_dir)
    model = run.load_model()
    loss, accuracy = model.evaluate(dataset.x_test, dataset.y_test, verbose=0)
    history = run.history()
    assert history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)
    assert history["val_loss"][-1] == pytest.approx(loss, rel=1e-3)
    stored = run.predictions().astype(np.float32)
    fresh = model.predict(dataset.x_test, verbose=0)
    np.testing.assert_allclose(stored, fresh, atol=2e-3)  # float16 storage
    np.testing.assert_array_equal(run.labels(), dataset.y_test)


def test_same_config_and_seed_give_the_same_first_epoch_loss(finished_run, batches_dir, tmp_path):
    first = finished_run
    result = run_cli("train", "--data", str(batches_dir), "--runs-dir", str(tmp_path), "--epochs", "1", *TINY_FLAGS)
    assert result.returncode == 0, result.stderr
    second = open_run_dir(result.stdout.splitlines()[0])
    assert round(second.history()["loss"][0], 4) == round(first.history()["loss"][0], 4)


def test_learning_happens_on_learnable_data(batches_dir, tmp_path):
    result = run_cli("train", "--data", str(batches_dir), "--runs-dir", str(tmp_path), "--epochs", "6", *TINY_FLAGS)
    assert result.returncode == 0, result.stderr
    run = open_run_dir(result.stdout.splitlines()[0])
    accuracy = run.history()["val_accuracy"]
    assert len(accuracy) == 6
    assert accuracy[-1] > 0.5, accuracy  # chance is 0.1


def _launch_long(batches_dir, runs_dir, **changes):
    config = TINY.replace(epochs=300, batch_size=2, **changes)  # 100 steps an epoch: a minute or more in all
    return launcher.launch(config, runs_dir=runs_dir, data=batches_dir, name="long", person=ALONE)


def test_stop_request_keeps_finished_epochs(batches_dir, runs_dir):
    run = _launch_long(batches_dir, runs_dir)
    wait_until(lambda: run.history().get("epoch"), what="a finished epoch")
    assert launcher.stop(run.id, person=ALONE) is True
    status = wait_for_end(run)
    assert status.state == "stopped", status
    done = run.history()["epoch"]
    assert len(done) >= 1 and done == list(range(1, len(done) + 1)) and status.epoch == len(done)
    assert run.prediction_epochs() == done and run.weight_epochs() == done
    kept = "the run keeps epoch 1" if len(done) == 1 else f"the run keeps epochs 1–{len(done)}"
    assert status.message.startswith("Stopped on request") and status.message.endswith(f"; {kept}.")
    steps = run.start_event()["steps"]
    assert int(run.load_model().optimizer.iterations) == len(done) * steps  # the last finished epoch's model
    assert launcher.stop(run.id, person=ALONE) is False  # already ended
    assert next(e for e in run.events()[0] if e["type"] == "end")["state"] == "stopped"


def test_sigterm_stops_like_a_request(batches_dir, runs_dir):
    run = _launch_long(batches_dir, runs_dir)
    wait_until(lambda: launcher.status(run).state == "running" and run.events()[0], what="training to start")
    # Every thread of the training runs below the web server's priority (TensorFlow's too).
    from cifar.training.process import NICENESS

    niceness = set()
    for task in Path(f"/proc/{launcher.status(run).pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread may end meanwhile
            # Field 19 of stat, counted after the ")" that ends the thread's name.
            niceness.add(int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]))
    assert niceness == {min(os.nice(0) + NICENESS, 19)}, niceness
    os.kill(launcher.status(run).pid, signal.SIGTERM)
    assert wait_for_end(run).state == "stopped"


def test_sigkill_leaves_an_interrupted_run_that_the_command_line_continues(batches_dir, runs_dir):
    run = _launch_long(batches_dir, runs_dir)
    kill_mid_epoch(run, after=2)
    status = wait_for_end(run, timeout=30)
    assert status.state == "interrupted" and run.written_status().state == "running"
    earlier = run.history()
    done = len(earlier["epoch"])
    assert done >= 2 and earlier["epoch"] == list(range(1, done + 1)) and status.epoch == done
    assert status.message.endswith(f"the run keeps {done} finished epochs.")
    kept = [epoch for epoch in earlier["epoch"] if kept_epoch(epoch) or epoch == done]  # every one up to 50
    assert run.prediction_epochs() == earlier["epoch"] and run.weight_epochs() == kept
    steps = run.start_event()["steps"]
    model = run.load_model()
    assert int(model.optimizer.iterations) == done * steps  # the model of the last finished epoch
    assert model.predict(np.zeros((1, 32, 32, 3), np.uint8), verbose=0).shape == (1, 10)

    result = run_cli("train", "--resume", run.id, "--epochs", "1", "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    child = open_run_dir(result.stdout.splitlines()[0])
    assert launcher.status(child).state == "finished" and child.written_status().resumed_from == run.id
    history = child.history()
    assert history["epoch"] == list(range(1, done + 2))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
        assert history[key][:done] == earlier[key], key
    assert int(child.load_model().optimizer.iterations) == (done + 1) * steps
    assert run.history() == earlier  # the interrupted run itself is untouched


def test_queue_runs_one_at_a_time_in_order(batches_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    first = _launch_long(batches_dir, runs_dir)
    second = launcher.launch(TINY.replace(epochs=1), runs_dir=runs_dir, data=batches_dir, name="second", person=ALONE)
    third = launcher.launch(TINY.replace(epochs=1), runs_dir=runs_dir, data=batches_dir, name="third", person=ALONE)
    wait_until(lambda: launcher.status(first).state == "running", what="the first to run")
    wait_until(
        lambda: [j.run.id for j in launcher.live_jobs(runs_dir)] == [first.id, second.id, third.id], what="queue order"
    )
    positions = {j.run.id: (j.state, j.queue_position) for j in launcher.live_jobs(runs_dir)}
    assert positions == {first.id: ("running", 0), second.id: ("queued", 1), third.id: ("queued", 2)}
    assert launcher.status(second).state == "queued" and not second.history()
    launcher.stop(first.id, person=ALONE)
    assert wait_for_end(second).state == "finished"
    assert wait_for_end(third).state == "finished"
    # Never two at once: the second began only after the first ended.
    assert launcher.status(second).started >= launcher.status(first).ended
    assert launcher.status(third).started >= launcher.status(second).ended


def test_stop_a_queued_run(batches_dir, runs_dir, monkeypatch):
    monkeypatch.setenv("CIFAR_MAX_TRAININGS", "1")
    first = _launch_long(batches_dir, runs_dir)
    queued = launcher.launch(TINY, runs_dir=runs_dir, data=batches_dir, name="queued", person=ALONE)
    wait_until(lambda: launcher.status(queued).pid and launcher.status(first).state == "running", what="both started")
    assert launcher.stop(queued.id, person=ALONE)
    status = wait_for_end(queued)
    assert status.state == "stopped" and "before training began" in status.message
    launcher.stop(first.id, person=ALONE)
    wait_for_end(first)


def test_a_diverging_loss_fails_the_run_and_keeps_the_epochs_before_it(batches_dir, tmp_path):
    """Learning rate 10, one batch an epoch: epoch 1's loss is the untrained network's (about 2.3);
    its one Adam step moves every weight by about 10, and epoch 2's loss is in the millions."""
    result = run_cli(
        "train",
        "--data",
        str(batches_dir),
        "--runs-dir",
        str(tmp_path),
        *TINY_FLAGS,
        "--batch-size",
        "200",
        "--epochs",
        "3",
        "--optimizer",
        "adam",
        "--learning-rate",
        "10",
    )
    assert result.returncode == 1, result.stderr
    run = open_run_dir(result.stdout.splitlines()[0])
    status = launcher.status(run)
    assert status.state == "failed" and status.epoch == 1
    assert status.error.startswith("Training diverged: the loss became ") and " in epoch 2 at batch 1 " in status.error
    assert "Lower the learning rate" in status.error and f"failed: {status.error}" in result.stderr
    # Epoch 1 is kept: its history, predictions, weights and model.
    assert run.history()["epoch"] == [1] and run.history()["loss"][0] < 3
    assert run.prediction_epochs() == [1] and run.weight_epochs() == [1]
    assert np.isfinite(run.predictions(1).astype(np.float32)).all()
    assert int(run.load_model().optimizer.iterations) == 1


def test_missing_dataset_fails_with_the_reason(tmp_path):
    result = run_cli("train", "--data", str(tmp_path / "nowhere"), "--runs-dir", str(tmp_path), *TINY_FLAGS)
    assert result.returncode == 1
    status = launcher.status(open_run_dir(result.stdout.splitlines()[0]))
    assert status.state == "failed" and "does not exist" in status.error and "CIFAR10_DIR" in status.error


def test_the_trainer_refuses_a_folder_that_holds_no_prepared_run(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cifar.training", str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 2 and "holds no prepared run" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing was written there


def test_bad_config_file_fails_the_run(batches_dir, runs_dir):
    path = launcher.prepare_run(TINY, runs_dir, "bad", batches_dir, person=ALONE)
    run = open_run_dir(path)
    config = json.loads(run.files.config.read_text())
    config["dropout"] = 1.5
    run.files.config.write_text(json.dumps(config))
    result = run_trainer(path)
    assert result.returncode == 1
    status = run.written_status()
    assert status.state == "failed" and "dropout must be at least 0 and below 1" in status.error


def test_a_prepared_run_started_by_hand_trains_when_no_one_waits(batches_dir, runs_dir):
    """`python -m cifar.training RUN_DIR --wait-in-line` with nothing in line, not even a queue folder yet."""
    path = launcher.prepare_run(TINY.replace(epochs=1), runs_dir, "by-hand", batches_dir, person=ALONE)
    result = subprocess.run(
        [sys.executable, "-m", "cifar.training", str(path), "--wait-in-line"],
        capture_output=True,
        text=True,
        timeout=240,
        env=os.environ,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert launcher.status(open_run_dir(path)).state == "finished" and not (runs_dir / ".queue").exists()


def test_bad_flag_is_refused_before_any_run(tmp_path):
    result = run_cli("train", "--runs-dir", str(tmp_path), "--dropout", "1.5")
    assert result.returncode == 2 and "dropout must be at least 0 and below 1; got 1.5" in result.stderr
    assert not list(tmp_path.iterdir())


def test_list_runs_newest_first_and_summaries(finished_run):
    run = finished_run
    listed = list_runs(run.path.parent)
    assert listed[0].id == run.id
    summary = run_summary(listed[0])
    assert summary["state"] == "finished" and summary["final_accuracy"] == run.history()["val_accuracy"][-1]


@pytest.mark.slow
def test_short_real_training_lands_well_above_chance(real_data_dir, tmp_path):
    result = run_cli(
        "train",
        "--preset",
        "quick",
        "--data",
        str(real_data_dir),
        "--runs-dir",
        str(tmp_path),
        "--train-size",
        "2000",
        "--epochs",
        "2",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    accuracy = open_run_dir(result.stdout.splitlines()[0]).history()["val_accuracy"][-1]
    assert accuracy > 0.25, f"test accuracy {accuracy} is not well above chance (0.10)"


def test_damaged_prediction_file_is_a_clear_error(finished_run, tmp_path):
    import shutil

    run = finished_run
    copy = open_run_dir(shutil.copytree(run.path, tmp_path / run.id))
    (copy.path / "predictions" / "epoch-002.npy").write_bytes(b"")
    with pytest.raises(RunError, match="missing or damaged"):
        copy.predictions()
    assert copy.predictions(1).shape == (100, 10)


def test_open_run_by_id_stays_inside(finished_run):
    run = finished_run
    assert open_run(run.id, run.path.parent).path == run.path
    with pytest.raises(RunError, match="No run"):
        open_run("20991231-000000-nothing-0000", run.path.parent)


def test_failure_messages_say_what_to_do():
    from cifar.errors import DataError
    from cifar.training.process import failure_message

    assert "smaller batch size" in failure_message(MemoryError())
    exhausted = type("ResourceExhaustedError", (Exception,), {})("OOM when allocating tensor")
    assert "ran out of memory" in failure_message(exhausted)
    full = OSError(28, "No space left on device", "/runs/x/model.keras")
    assert "No space left on device" in failure_message(full) and "/runs/x/model.keras" in failure_message(full)
    assert failure_message(DataError("no data here")) == "no data here"


@pytest.mark.slow
def test_fast_preset_reaches_the_tutorial_accuracy(real_data_dir, tmp_path):
    """The `fast` preset's promise (README, benchmarks/RESULTS.md): 0.68 on the real test set."""
    result = run_cli(
        "train", "--preset", "fast", "--data", str(real_data_dir), "--runs-dir", str(tmp_path), timeout=1200
    )
    assert result.returncode == 0, result.stderr
    accuracy = open_run_dir(result.stdout.splitlines()[0]).history()["val_accuracy"][-1]
    assert accuracy >= 0.68, f"the fast preset reached {accuracy}, below the tutorial's 0.68"
