"""The Keras callback that makes a training watchable: it validates and saves every epoch,
streams progress events, stops after the batch in which a stop was asked for, and has the
run's steering (steering.py) carry out what its owner asks between batches.

Imported by the training process only once it trains (it imports Keras).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras
import numpy as np

from cifar.config.settings import ModelConfig
from cifar.errors import TrainingFailed
from cifar.network.build import (
    VALIDATION_BATCH_SIZE,
    averaged_weights,
    probabilities_as_tested,
    sparse_crossentropy,
    test_passes,
)
from cifar.runs.progress import Progress
from cifar.runs.writer import RunWriter
from cifar.training.steering import Place, Steering

BATCH_EVENT_SECONDS = 0.5  # a live curve without slowing training: ~2 events a second
# Cross-entropy over 10 classes is 2.3 at chance; an epoch's mean loss above this has
# diverged (a learning rate of 10 reaches millions) and will not come back to anything useful.
DIVERGED_LOSS = 100.0


def check_loss(loss: float, epoch: int, batch: int) -> None:
    """Raise TrainingFailed when the loss is NaN, infinite or has exploded."""
    if math.isfinite(loss) and loss <= DIVERGED_LOSS:
        return
    shown = f"{loss:.3g}" if math.isfinite(loss) else str(loss)
    raise TrainingFailed(
        f"Training diverged: the loss became {shown} in epoch {epoch} at batch {batch} "
        "(at chance it is 2.3). Lower the learning rate (the tutorial uses 0.001) and try again."
    )


class Recorder(keras.callbacks.Callback):
    """Validates on the test set after each epoch, saves it, and reports batches as they go.

    Args:
        writer: the run being written.
        x_test, y_test: the test images (a tensor over their memory) and labels.
        steps: batches in an epoch.
        config: the run's config: its epochs, batch size and whether to test with a flip too.
        should_stop: asked after every batch.
        steering: carries out the control file's requests; it knows the epoch the run ends at.
    """

    def __init__(self, writer: RunWriter, x_test, y_test: np.ndarray, steps: int, config: ModelConfig,
                 should_stop: Callable[[], bool], steering: Steering) -> None:  # fmt: skip
        super().__init__()
        self.writer, self.x_test, self.y_test = writer, x_test, y_test
        self.steps, self.batch_size, self.steering = steps, config.batch_size, steering
        self.start_epoch = writer.status.start_epoch  # a continued run's parent's last epoch
        self.should_stop, self.config = should_stop, config
        self.stopped_at: tuple[int, int] | None = None  # (epoch, batch) of a stop inside an epoch
        self.epoch = 0  # the epoch in progress, counting from 1
        self.epoch_start = time.monotonic()
        self.val_seconds: float | None = None
        self.last_emit = 0.0
        # With an average of the weights, the weights trained at the last epoch's end: Keras puts
        # the average in the model when a fit ends, and a fit that goes on starts from these.
        self.trained_weights: list[np.ndarray] | None = None

    @property
    def epochs(self) -> int:
        """The epoch the run ends at: as launched, or as its owner has since asked."""
        return self.steering.epochs

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.epoch = epoch + 1
        self.epoch_start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None) -> None:
        done = batch + 1
        # Time spent paused is not training time: the epoch's speed and estimate leave it out.
        self.epoch_start += self.steering.between_batches(Place(self.epoch, done))
        if self.should_stop() or self.steering.ended:
            self.model.stop_training = True
            if done < self.steps:
                self.stopped_at = (self.epoch, done)
        now = time.monotonic()
        # Every epoch's first and last batch, and about two a second between: an epoch shorter
        # than that still shows it began.
        if now - self.last_emit < BATCH_EVENT_SECONDS and 1 < done < self.steps:
            return
        self.last_emit = now
        loss, accuracy = float(logs["loss"]), float(logs["accuracy"])
        check_loss(loss, self.epoch, done)
        elapsed = now - self.epoch_start
        progress = Progress(
            epoch=self.epoch,
            epochs=self.epochs,
            batch=done,
            batches=self.steps,
            loss=round(loss, 5),
            accuracy=round(accuracy, 5),
            images_per_second=round(done * self.batch_size / max(elapsed, 1e-9), 1),
            eta_seconds=round(self.eta(elapsed / done, done), 1),
            start_epoch=self.start_epoch,
        )
        self.writer.event("batch", **progress.event_fields())

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.stopped_at is not None:
            return  # a partial epoch: the run keeps the epochs that finished
        train_seconds = time.monotonic() - self.epoch_start
        self.writer.event("validate", epoch=self.epoch, test_images=len(self.y_test))
        with averaged_weights(self.model) as trained:  # a run that averages its weights is tested and kept by it
            self.trained_weights = trained
            self._test_and_keep(logs, train_seconds)
        if self.steering.at_epoch_end(Place(self.epoch, self.steps)):
            self.model.stop_training = True

    def _test_and_keep(self, logs, train_seconds: float) -> None:
        val_start = time.monotonic()
        probabilities = probabilities_as_tested(self._predict, self.x_test, self.config)
        self.val_seconds = time.monotonic() - val_start
        logs = logs if logs is not None else {}
        # The plain cross-entropy, whatever the training loss smooths: runs compare on one scale.
        logs["val_loss"] = sparse_crossentropy(probabilities, self.y_test)
        logs["val_accuracy"] = float(np.mean(np.argmax(probabilities, axis=1) == self.y_test))
        check_loss(float(logs["loss"]), self.epoch, self.steps)
        values = {key: float(logs[key]) for key in ("loss", "accuracy", "val_loss", "val_accuracy")}
        values["seconds"] = train_seconds + self.val_seconds
        weights_seconds = self.writer.save_epoch(self.model, self.epoch, values, probabilities)
        self.writer.event(
            "epoch",
            epoch=self.epoch,
            epochs=self.epochs,
            **{key: round(value, 5) for key, value in values.items()},
            train_seconds=round(train_seconds, 2),
            val_seconds=round(self.val_seconds, 2),
            weights_seconds=round(weights_seconds, 3),
            images_per_second=round(self.steps * self.batch_size / max(train_seconds, 1e-9), 1),
        )

    def _predict(self, images) -> np.ndarray:
        return self.model.predict(images, batch_size=VALIDATION_BATCH_SIZE, verbose=0)

    def eta(self, seconds_per_batch: float, done_in_epoch: int) -> float:
        """Seconds left: the batches and validations still to come at the speed so far."""
        batches_left = (self.epochs - self.epoch) * self.steps + (self.steps - done_in_epoch)
        validations_left = self.epochs - self.epoch + 1
        # Before the first validation, guess it from the training speed: a forward pass
        # over the test set costs about a third of a training step per image.
        val_seconds = self.val_seconds
        if val_seconds is None:
            val_seconds = len(self.y_test) * test_passes(self.config) / self.batch_size * seconds_per_batch / 3
        return batches_left * seconds_per_batch + validations_left * val_seconds
