"""Steering a training (cifar/training/steering.py): a tiny model fitted in this process with
the recorder and its steering, the control file written as the launcher writes it. A pause
waits on a clock of the test's own, which writes the next request, so nothing waits for time."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import TINY, run_trainer

from cifar.launch.launcher import prepare_run
from cifar.network.build import build_model, training_targets
from cifar.network.schedule import OptimizerRate, rate_of
from cifar.runs.control import add_request
from cifar.runs.owner import ALONE
from cifar.runs.run import Run
from cifar.runs.writer import RunWriter
from cifar.training.recorder import Recorder
from cifar.training.steering import Place, Steering

TRAIN = 60  # three batches of TINY's 20 an epoch
STEPS = 3


class Clock:
    """Stands in for `time.sleep` while paused: at each call, writes the next of `then`."""

    def __init__(self, run_dir: Path, then: list[tuple[str, float | None]]) -> None:
        self.run_dir, self.then, self.calls = run_dir, list(then), 0

    def __call__(self, seconds: float) -> None:
        self.calls += 1
        if self.then:
            action, value = self.then.pop(0)
            add_request(self.run_dir, action, value, "Test")


THREE_EPOCHS = TINY.replace(epochs=3)


def _fit(tmp_path: Path, requests=(), then=(), config=THREE_EPOCHS):
    """Fit on random images with `requests` in the control file before the first batch; while
    paused, each wait writes the next of `then`."""
    run_dir = prepare_run(config, tmp_path / "runs", person=ALONE)
    for action, value in requests:
        add_request(run_dir, action, value, "Emma")
    writer = RunWriter(run_dir)
    rng = np.random.default_rng(0)
    x, x_test = (rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8) for count in (TRAIN, 20))
    y, y_test = (rng.integers(0, 10, count).astype(np.uint8) for count in (TRAIN, 20))
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, TRAIN, precision="float32")
    model.run_eagerly = True
    clock = Clock(run_dir, list(then))
    steering = Steering(writer, rate_of(model), STEPS, config.epochs, lambda: False, sleep=clock)
    recorder = Recorder(writer, x_test, y_test, STEPS, config, lambda: False, steering)
    try:
        model.fit(x, training_targets(config, y), batch_size=20, epochs=config.epochs, shuffle=False, verbose=0,
                  callbacks=[recorder])  # fmt: skip
    finally:
        writer.close()
    return Run(run_dir), model, steering, clock


def _events(run: Run, kind: str) -> list[dict]:
    return [event for event in run.events()[0] if event["type"] == kind]


def test_a_new_rate_is_the_optimizers_from_the_next_batch_and_an_event_says_where(tmp_path):
    run, model, _, _ = _fit(tmp_path, [("lr", 0.0001)])
    (event,) = _events(run, "control")
    assert (event["action"], event["outcome"], event["value"]) == ("lr", "done", 0.0001)
    assert (event["epoch"], event["batch"]) == (1, 1)
    assert "0.001 → 0.0001" in event["detail"]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0001)


def test_a_cosine_schedule_goes_on_from_the_new_rate_scaled(tmp_path):
    config = TINY.replace(epochs=3, lr_schedule="cosine", learning_rate=0.01)
    run, model, _, _ = _fit(tmp_path, [("lr", 0.002)], config=config)
    schedule = model.optimizer._learning_rate
    # Asked after the first step: the schedule's value there becomes 0.002, and every later
    # step is the planned cosine times the same factor.
    planned = keras.optimizers.schedules.CosineDecay(
        0.001, decay_steps=STEPS * 3 - int(STEPS * 3 * 0.1), alpha=0.0, warmup_target=0.01, warmup_steps=0
    )
    assert schedule.scale == pytest.approx(0.002 / float(planned(1)), rel=1e-5)
    for step in (2, 5, 8):
        assert float(schedule(step)) == pytest.approx(float(planned(step)) * schedule.scale, rel=1e-5)
    assert _events(run, "control")[0]["learning_rate"] == pytest.approx(0.002, rel=1e-5)


def test_a_pause_stops_the_batches_until_resumed(tmp_path):
    run, _, _, clock = _fit(tmp_path, [("pause", None)], then=[("resume", None)])
    control = _events(run, "control")
    assert [(event["action"], event["outcome"]) for event in control] == [("pause", "done"), ("resume", "done")]
    assert control[0]["who"] == "Emma" and control[1]["who"] == "Test"
    assert clock.calls == 1  # waited once, and the resume written then ended the wait
    assert run.written_status().paused_since is None
    assert run.history()["epoch"] == [1, 2, 3]  # every epoch trained after the resume


def test_the_status_says_paused_while_the_pause_lasts(tmp_path):
    seen = []

    def watch(run_dir: Path):
        def sleep(seconds):
            status = Run(run_dir).written_status()
            seen.append((status.paused_since is not None, status.paused_by))
            add_request(run_dir, "resume", None, "Test")

        return sleep

    run_dir = prepare_run(TINY.replace(epochs=1), tmp_path / "runs", person=ALONE)
    add_request(run_dir, "pause", None, "Emma")
    writer = RunWriter(run_dir)
    steering = Steering(writer, OptimizerRate(_Optimizer()), STEPS, 1, lambda: False, sleep=watch(run_dir))
    steering.between_batches(Place(1, 2))
    writer.close()
    assert seen == [(True, "Emma")]
    assert Run(run_dir).written_status().paused_since is None


class _Optimizer:
    """An optimizer's rate and step count, without a model."""

    learning_rate = 0.001
    iterations = keras.Variable(0, dtype="int64")


def test_a_pause_held_longer_than_its_limit_ends_the_run_keeping_its_epochs(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_PAUSE_MINUTES", "0")
    run, _, steering, _ = _fit(tmp_path, then=[("pause", None)], requests=[("step", None)])
    # The step trains epoch 1 whole, then pauses; the pause ends the run at once.
    assert run.history()["epoch"] == [1]
    assert "CIFAR_PAUSE_MINUTES" in steering.ended and "the run keeps 1 finished epoch" in steering.ended
    assert _events(run, "control")[-1]["outcome"] == "ended"


def test_a_step_trains_until_one_more_epoch_has_finished_then_pauses(tmp_path):
    run, _, _, _ = _fit(tmp_path, [("pause", None), ("step", None)], then=[("resume", None)])
    control = _events(run, "control")
    assert [event["action"] for event in control] == ["pause", "step", "pause", "resume"]
    assert (control[2]["who"], control[2]["epoch"], control[2]["batch"]) == ("step", 1, STEPS)
    assert run.history()["epoch"] == [1, 2, 3]


def test_stop_after_epoch_finishes_the_epoch_keeps_it_and_stops(tmp_path):
    run, _, steering, _ = _fit(tmp_path, [("stop_after_epoch", None)])
    assert run.history()["epoch"] == [1]
    assert steering.ended == "Stopped after epoch 1 on request; the run keeps 1 finished epoch."


def test_fewer_epochs_end_the_run_sooner_and_the_status_says_so(tmp_path):
    run, _, _, _ = _fit(tmp_path, [("epochs", 2)])
    assert run.history()["epoch"] == [1, 2]
    assert run.written_status().epochs == 2
    assert {event["epochs"] for event in _events(run, "batch")} == {2}


def test_epochs_below_the_one_under_way_are_refused_and_change_nothing(tmp_path):
    run, _, _, _ = _fit(tmp_path, then=[], requests=[("stop_after_epoch", None)], config=TINY.replace(epochs=1))
    run_dir = run.path
    writer = RunWriter(run_dir)
    steering = Steering(writer, OptimizerRate(_Optimizer()), STEPS, 3, lambda: False)
    add_request(run_dir, "epochs", 1, "Emma")
    steering.between_batches(Place(2, 1))
    writer.close()
    event = _events(run, "control")[-1]
    assert event["outcome"] == "refused" and "at epoch 2" in event["detail"] and steering.epochs == 3


@pytest.mark.parametrize(
    "content, said",
    [
        (b"{not json", "not JSON"),
        (b'{"requests": "pause"}', "no list of requests"),
        (json.dumps({"requests": [{"id": 1, "action": "explode"}]}).encode(), "'explode' is not something"),
        (json.dumps({"requests": [{"id": 1, "action": "lr", "value": "fast"}]}).encode(), "lr needs a number"),
        (b'{"requests": [{"id": 1, "action": "lr", "value": NaN}]}', "lr needs a number"),
        (json.dumps({"requests": [{"id": 2, "action": "pause"}, {"id": 1, "action": "resume"}]}).encode(), "id 1"),
    ],
)
def test_a_control_file_written_by_hand_with_garbage_is_said_once_and_changes_nothing(
    tmp_path, monkeypatch, content, said
):
    monkeypatch.setenv("CIFAR_PAUSE_MINUTES", "0")  # a pause that nothing resumes ends at once
    run_dir = prepare_run(TINY.replace(epochs=1), tmp_path / "runs", person=ALONE)
    (run_dir / "control.json").write_bytes(content)
    writer = RunWriter(run_dir)
    optimizer = _Optimizer()
    steering = Steering(writer, OptimizerRate(optimizer), STEPS, 1, lambda: False, sleep=lambda seconds: None)
    for batch in (1, 2, 3):
        steering.between_batches(Place(1, batch))
    writer.close()
    ignored = [event for event in _events(Run(run_dir), "control") if event["outcome"] == "ignored"]
    assert len(ignored) == 1 and said in ignored[0]["detail"]
    paused = b'"pause"' in content and b'"id": 2' in content
    assert steering.paused == paused or steering.ended  # the one good request of the last file is carried out
    assert optimizer.learning_rate == 0.001 and steering.epochs == 1


def test_more_epochs_asked_of_a_running_trainer_are_trained(batches_dir, runs_dir):
    """The real training process: asked before its first batch to end at epoch 3 of 1, it fits on."""
    path = prepare_run(TINY.replace(epochs=1), runs_dir, "more", batches_dir, person=ALONE)
    add_request(path, "epochs", 3, "Emma")
    add_request(path, "lr", 0.0005, "Emma")
    result = run_trainer(path)
    run = Run(path)
    assert result.returncode == 0, result.stderr
    assert run.history()["epoch"] == [1, 2, 3]
    assert run.written_status().state == "finished" and run.written_status().epochs == 3
    # The rate asked for is the one the saved optimizer carries on with.
    assert float(run.load_model().optimizer.learning_rate) == pytest.approx(0.0005)
    assert math.isclose(run.load_model().optimizer._learning_rate.scale, 0.5)


@pytest.mark.parametrize("asked", ["step", "stop_after_epoch", "pause_at_the_end"])
def test_the_last_epoch_ends_the_run_finished_whatever_was_asked_at_its_end(tmp_path, asked):
    """A step, a stop after this epoch or a pause that meets the last epoch's end: the run has
    done every epoch, so it ends there as finished, without holding its place paused."""
    run_dir = prepare_run(TINY.replace(epochs=1), tmp_path / "runs", person=ALONE)
    writer = RunWriter(run_dir)
    clock = Clock(run_dir, [])
    steering = Steering(writer, OptimizerRate(_Optimizer()), STEPS, 1, lambda: False, sleep=clock)
    if asked == "pause_at_the_end":
        add_request(run_dir, "pause", None, "Emma")
    else:
        add_request(run_dir, asked, None, "Emma")
        steering.between_batches(Place(1, 1))
    assert steering.at_epoch_end(Place(1, STEPS)) is True
    writer.close()
    assert clock.calls == 0 and steering.ended is None and not steering.paused
    assert Run(run_dir).written_status().paused_since is None
