"""The callback that records a training (cifar/training/recorder.py), on a tiny model fitted in
this process on a few random images: what it writes in the run folder against Keras' own
`History` and a test loss worked out in NumPy, its events, where a stop leaves a run, and the
divergence check."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import TINY

from cifar.config.settings import ModelConfig
from cifar.errors import TrainingFailed
from cifar.launch.launcher import prepare_run
from cifar.network.build import build_model, training_targets
from cifar.network.schedule import OptimizerRate, rate_of
from cifar.runs.owner import ALONE
from cifar.runs.run import Run
from cifar.runs.writer import RunWriter
from cifar.training import recorder
from cifar.training.recorder import Recorder, check_loss
from cifar.training.steering import Steering

TRAIN, TEST = 40, 30  # two batches of TINY's 20 an epoch


@dataclass
class Fitted:
    run: Run
    model: keras.Model
    history: dict[str, list[float]]  # Keras' own History
    recorder: Recorder
    x_test: np.ndarray
    y_test: np.ndarray


def _fit(tmp_path: Path, config: ModelConfig = TINY, should_stop=lambda: False, spoil=None, **status) -> Fitted:
    """Fit `config`'s model on random images with a Recorder over a new run folder."""
    run_dir = prepare_run(config, tmp_path / "runs", person=ALONE)
    writer = RunWriter(run_dir)
    if status:
        writer.set_status(**status)
    rng = np.random.default_rng(0)
    x, x_test = (rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8) for count in (TRAIN, TEST))
    y, y_test = (rng.integers(0, 10, count).astype(np.uint8) for count in (TRAIN, TEST))
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, TRAIN, precision="float32")
    model.run_eagerly = True  # tracing a graph takes longer than these few batches
    if spoil:
        spoil(model)
    steps = math.ceil(TRAIN / config.batch_size)
    steering = Steering(writer, rate_of(model), steps, config.epochs, should_stop)
    callback = Recorder(writer, x_test, y_test, steps, config, should_stop, steering)
    try:
        history = model.fit(
            x,
            training_targets(config, y),
            batch_size=config.batch_size,
            epochs=config.epochs,
            initial_epoch=writer.status.start_epoch,
            shuffle=False,
            verbose=0,
            callbacks=[callback],
        ).history
    finally:
        writer.close()
    return Fitted(Run(run_dir), model, history, callback, x_test, y_test)


def _crossentropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(picked, 1e-7))))


def _events(run: Run, kind: str | None = None) -> list[dict]:
    return [event for event in run.events()[0] if kind is None or event["type"] == kind]


def test_every_epoch_is_recorded_as_keras_and_numpy_score_it(tmp_path):
    fitted = _fit(tmp_path)
    history, run = fitted.run.history(), fitted.run
    assert history["epoch"] == [1, 2]
    assert history["loss"] == pytest.approx(fitted.history["loss"], abs=1e-6)
    assert history["accuracy"] == pytest.approx(fitted.history["accuracy"], abs=1e-6)
    # The last epoch's test scores, from the model as fit left it.
    probabilities = fitted.model.predict(fitted.x_test, verbose=0)
    assert history["val_loss"][-1] == pytest.approx(_crossentropy(probabilities, fitted.y_test), abs=1e-5)
    accuracy = np.mean(probabilities.argmax(axis=1) == fitted.y_test)
    assert history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)
    stored = run.predictions(2)
    assert stored.dtype == np.float16 and stored.shape == (TEST, 10)
    np.testing.assert_allclose(stored.astype(np.float32), probabilities, atol=1e-3)
    assert run.prediction_epochs() == [1, 2] and run.weight_epochs() == [1, 2]
    assert run.written_status().epoch == 2
    np.testing.assert_allclose(run.load_model().predict(fitted.x_test, verbose=0), probabilities, atol=1e-6)
    assert all(seconds > 0 for seconds in history["seconds"])


def test_each_epoch_says_it_validates_then_what_it_scored(tmp_path):
    fitted = _fit(tmp_path)
    kinds = [event["type"] for event in _events(fitted.run)]
    assert kinds == ["batch", "batch", "validate", "epoch"] * 2  # two batches: each the first or the last
    epochs = _events(fitted.run, "epoch")
    assert [event["epoch"] for event in epochs] == [1, 2] and {event["epochs"] for event in epochs} == {2}
    assert [event["loss"] for event in epochs] == pytest.approx(fitted.history["loss"], abs=1e-5)
    validations = _events(fitted.run, "validate")
    assert [(event["epoch"], event["test_images"]) for event in validations] == [(1, TEST), (2, TEST)]
    batches = _events(fitted.run, "batch")
    assert [(event["epoch"], event["batch"], event["batches"]) for event in batches] == [
        (1, 1, 2),
        (1, 2, 2),
        (2, 1, 2),
        (2, 2, 2),
    ]
    # At an epoch's last batch Keras' running mean is the epoch's loss.
    assert [batches[1]["loss"], batches[3]["loss"]] == pytest.approx(fitted.history["loss"], abs=1e-5)


@pytest.mark.parametrize(("every", "expected"), [(1e9, [1, 4]), (0.0, [1, 2, 3, 4])])
def test_between_an_epochs_first_and_last_batch_events_come_at_most_every_half_second(
    every, expected, tmp_path, monkeypatch
):
    monkeypatch.setattr(recorder, "BATCH_EVENT_SECONDS", every)
    fitted = _fit(tmp_path, TINY.replace(batch_size=10, epochs=1))
    assert [event["batch"] for event in _events(fitted.run, "batch")] == expected


def test_a_stop_inside_an_epoch_keeps_only_the_epochs_before_it(tmp_path):
    asked = []

    def stop_at_the_third_batch() -> bool:
        asked.append(1)
        return len(asked) == 3  # epoch 2's first batch

    fitted = _fit(tmp_path, TINY.replace(epochs=3), stop_at_the_third_batch)
    assert fitted.recorder.stopped_at == (2, 1)
    assert fitted.run.history()["epoch"] == [1]
    assert fitted.run.prediction_epochs() == [1] and not fitted.run.files.prediction(2).exists()
    assert [event["epoch"] for event in _events(fitted.run, "epoch")] == [1]
    assert len(fitted.history["loss"]) == 2  # Keras ended epoch 2 early and began no third


def test_a_stop_at_an_epochs_last_batch_keeps_that_epoch_and_ends_the_training(tmp_path):
    asked = []

    def stop_at_the_second_batch() -> bool:
        asked.append(1)
        return len(asked) == 2

    fitted = _fit(tmp_path, TINY.replace(epochs=3), stop_at_the_second_batch)
    assert fitted.recorder.stopped_at is None
    assert fitted.run.history()["epoch"] == [1] and fitted.run.has_model()
    assert len(fitted.history["loss"]) == 1


def test_a_nan_loss_fails_the_training_at_its_first_batch(tmp_path):
    def poison(model):
        kernel = model.get_layer("class_probabilities").kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))

    with pytest.raises(TrainingFailed, match=r"^Training diverged: the loss became nan in epoch 1 at batch 1 "):
        _fit(tmp_path, spoil=poison)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert not Run(run_dir).files.history.exists() and not Run(run_dir).has_model()


def test_a_smoothed_training_is_tested_with_the_plain_cross_entropy(tmp_path):
    fitted = _fit(tmp_path, TINY.replace(label_smoothing=0.2, epochs=1))
    probabilities = fitted.model.predict(fitted.x_test, verbose=0)
    plain = _crossentropy(probabilities, fitted.y_test)
    assert fitted.run.history()["val_loss"] == pytest.approx([plain], abs=1e-5)


def test_a_run_with_the_test_time_flip_stores_the_averaged_answers(tmp_path):
    fitted = _fit(tmp_path, TINY.replace(test_time_flip=True, epochs=1))
    plain = fitted.model.predict(fitted.x_test, verbose=0)
    averaged = (plain + fitted.model.predict(fitted.x_test[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(fitted.run.predictions(1).astype(np.float32), averaged, atol=1e-3)
    assert fitted.run.history()["val_loss"] == pytest.approx([_crossentropy(averaged, fitted.y_test)], abs=1e-5)


def test_a_continued_run_counts_on_from_its_parents_last_epoch(tmp_path):
    fitted = _fit(tmp_path, TINY.replace(epochs=3), start_epoch=2, resumed_from="parent")
    assert fitted.run.history()["epoch"] == [3]
    assert fitted.run.prediction_epochs() == [3] and fitted.run.written_status().epoch == 3
    batches = _events(fitted.run, "batch")
    assert {(event["epoch"], event["epochs"], event["start_epoch"]) for event in batches} == {(3, 3, 2)}


def test_the_time_left_counts_the_batches_and_validations_to_come(tmp_path):
    run_dir = prepare_run(TINY, tmp_path / "runs", person=ALONE)
    writer = RunWriter(run_dir)
    config = TINY.replace(epochs=3, batch_size=20)
    steering = Steering(writer, OptimizerRate(None), 10, config.epochs, lambda: False)
    callback = Recorder(writer, None, np.zeros(100, np.uint8), 10, config, lambda: False, steering)
    callback.epoch = 1
    # Epoch 1 of 3, 4 of 10 batches done at 0.3 s each: 6 + 2 × 10 batches and 3 validations left;
    # before any validation one is guessed at a third of a step per test image: 100 / 20 × 0.3 / 3.
    assert callback.eta(0.3, 4) == pytest.approx(26 * 0.3 + 3 * (100 / 20 * 0.3 / 3))
    callback.val_seconds = 2.0
    assert callback.eta(0.3, 4) == pytest.approx(26 * 0.3 + 3 * 2.0)
    callback.epoch = 3
    assert callback.eta(0.3, 10) == pytest.approx(2.0)  # only the last validation
    writer.close()


@pytest.mark.parametrize("loss", [float("nan"), float("inf"), 1e6])
def test_nan_or_exploding_loss_is_caught(loss):
    with pytest.raises(TrainingFailed, match="Lower the learning rate"):
        check_loss(loss, epoch=2, batch=7)
    check_loss(2.3, epoch=1, batch=1)


def test_a_loss_of_100_is_allowed_and_anything_above_it_is_not():
    check_loss(100.0, epoch=1, batch=1)
    with pytest.raises(TrainingFailed) as refused:
        check_loss(100.5, epoch=4, batch=12)
    assert str(refused.value).startswith("Training diverged: the loss became 100 in epoch 4 at batch 12 (at chance")
    with pytest.raises(TrainingFailed, match="the loss became -inf in epoch 1"):
        check_loss(float("-inf"), epoch=1, batch=1)
