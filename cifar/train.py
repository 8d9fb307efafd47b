"""The training process: fit a model for a run directory's config and write the run as it goes.

Run as `python -m cifar train ...` (see cifar/cli.py). Everything a reader sees goes through
the run directory (cifar/runs.py lists the files). Validation is on the test set at the end
of every epoch, as in the tutorial, in one pass that yields the validation loss, accuracy and
the stored class probabilities together.

Exit codes: 0 finished, 1 failed, 3 stopped on request.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from cifar import jobs
from cifar.evaluate import sparse_crossentropy
from cifar.files import save_npy_atomic, write_atomic, write_json_atomic
from cifar.runs import Run, now_iso, process_start_ticks

EXIT_FINISHED, EXIT_FAILED, EXIT_STOPPED = 0, 1, 3
BATCH_EVENT_SECONDS = 0.5  # a live curve without slowing training: ~2 events a second
# Cross-entropy over 10 classes is 2.3 at chance; an epoch's mean loss above this has
# diverged (a learning rate of 10 reaches millions) and will not come back to anything useful.
DIVERGED_LOSS = 100.0
# Training yields the CPU to the web server when both want it: at nice 0 a training slowed
# the Results page threefold on 2 cores (benchmarks/bench_app.py). Alone, it runs as fast.
NICENESS = 10
# Test images per forward pass when validating: as fast as 500 here, and its activations
# (tens of MB) keep the training process's peak memory down.
PREDICT_BATCH_SIZE = 200


class StopRequested(Exception):
    """Raised out of the queue wait when a stop arrives before training began."""


class TrainingFailed(Exception):
    """Training cannot go on; the message is for the user."""


class RunWriter:
    """The trainer's side of a run directory: status, events, history, model, predictions."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.status: dict[str, Any] = Run(run_dir).raw_status()
        # A continued run starts with its parent's history and carries on from there.
        earlier = Run(run_dir).history()
        keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
        self.history: dict[str, list] = {key: list(earlier.get(key, [])) for key in keys}
        self._events = open(run_dir / "events.jsonl", "ab")  # noqa: SIM115 (open for the run)

    def set_status(self, **changes: Any) -> None:
        self.status.update(changes)
        write_json_atomic(self.run_dir / "status.json", self.status)

    def event(self, kind: str, **fields: Any) -> None:
        record = {"type": kind, "time": round(time.time(), 3), **fields}
        # One write per line, flushed: a reader sees whole lines, or a torn last one it skips.
        self._events.write((json.dumps(record, allow_nan=False) + "\n").encode())
        self._events.flush()

    def save_epoch(self, model, epoch: int, values: dict[str, float], probabilities: np.ndarray) -> None:
        """Predictions, then model, then history: a reader that sees epoch k in the history
        finds its predictions and a model at least that far along."""
        predictions = self.run_dir / "predictions" / f"epoch-{epoch:03d}.npy"
        save_npy_atomic(predictions, probabilities.astype(np.float16))
        write_atomic(self.run_dir / "model.keras", lambda p: model.save(p), suffix=".keras")
        self.history["epoch"].append(epoch)
        for key, value in values.items():
            self.history[key].append(round(float(value), 6))
        write_json_atomic(self.run_dir / "history.json", self.history)
        self.set_status(epoch=epoch)

    def close(self) -> None:
        self._events.close()


def check_loss(loss: float, epoch: int, batch: int) -> None:
    """Raise TrainingFailed when the loss is NaN, infinite or has exploded."""
    if math.isfinite(loss) and loss <= DIVERGED_LOSS:
        return
    shown = f"{loss:.3g}" if math.isfinite(loss) else str(loss)
    raise TrainingFailed(
        f"Training diverged: the loss became {shown} in epoch {epoch} at batch {batch} "
        "(at chance it is 2.3). Lower the learning rate (the tutorial uses 0.001) and try again."
    )


def shared_tensor(array: np.ndarray):
    """A TensorFlow tensor over the array's own memory (DLPack), not a copy of it.

    Handed numpy arrays, Keras' `fit` and `predict` copy them into tensors first: for the
    training set a second 150 MB, which kept training the tutorial over 1 GB. TensorFlow can
    only share memory that starts on a 64-byte boundary (it aborts otherwise), so an array
    that does not is copied once into one that does (`cifar.data.aligned`). The tensor keeps
    the array alive; nothing may write to the array afterwards.
    """
    import tensorflow as tf

    from cifar.data import aligned

    return tf.experimental.dlpack.from_dlpack(aligned(array).__dlpack__())


def make_live_callback(writer: RunWriter, x_test, y_test, steps: int, epochs: int, batch_size: int, stop_flag):
    """A Keras callback that validates, saves each epoch, streams events and honours stop."""
    import keras

    class LiveCallback(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.stopped_at: tuple[int, int] | None = None
            self._epoch = 0
            self.val_seconds = None
            self.last_emit = 0.0

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self._epoch = epoch
            self.epoch_start = time.monotonic()

        def on_train_batch_end(self, batch, logs=None) -> None:
            done_in_epoch = batch + 1
            if stop_flag():
                self.model.stop_training = True
                if done_in_epoch < steps:
                    self.stopped_at = (self.epoch_index(), done_in_epoch)
            now = time.monotonic()
            if now - self.last_emit < BATCH_EVENT_SECONDS and done_in_epoch < steps:
                return
            self.last_emit = now
            loss, accuracy = float(logs["loss"]), float(logs["accuracy"])
            check_loss(loss, self.epoch_index(), done_in_epoch)
            elapsed = now - self.epoch_start
            images_per_second = done_in_epoch * batch_size / max(elapsed, 1e-9)
            writer.event(
                "batch",
                epoch=self.epoch_index(),
                batch=done_in_epoch,
                batches=steps,
                loss=round(loss, 5),
                accuracy=round(accuracy, 5),
                images_per_second=round(images_per_second, 1),
                eta_seconds=round(self.eta(elapsed / done_in_epoch, done_in_epoch), 1),
            )

        def epoch_index(self) -> int:
            return self._epoch + 1

        def on_epoch_end(self, epoch, logs=None) -> None:
            if self.stopped_at is not None:
                return  # a partial epoch: the run keeps the epochs that finished
            train_seconds = time.monotonic() - self.epoch_start
            writer.event("validate", epoch=epoch + 1, test_images=len(y_test))
            val_start = time.monotonic()
            probabilities = self.model.predict(x_test, batch_size=PREDICT_BATCH_SIZE, verbose=0)
            self.val_seconds = time.monotonic() - val_start
            val_loss = sparse_crossentropy(probabilities, y_test)
            val_accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
            logs = logs if logs is not None else {}
            logs["val_loss"], logs["val_accuracy"] = val_loss, val_accuracy
            check_loss(float(logs["loss"]), epoch + 1, steps)
            values = {
                "loss": float(logs["loss"]),
                "accuracy": float(logs["accuracy"]),
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "seconds": train_seconds + self.val_seconds,
            }
            writer.save_epoch(self.model, epoch + 1, values, probabilities)
            writer.event(
                "epoch",
                epoch=epoch + 1,
                epochs=epochs,
                **{k: round(v, 5) for k, v in values.items()},
                train_seconds=round(train_seconds, 2),
                val_seconds=round(self.val_seconds, 2),
                images_per_second=round(steps * batch_size / max(train_seconds, 1e-9), 1),
            )

        def eta(self, seconds_per_batch: float, done_in_epoch: int) -> float:
            batches_left = (epochs - self.epoch_index()) * steps + (steps - done_in_epoch)
            validations_left = epochs - self.epoch_index() + 1
            # Before the first validation, guess it from the training speed: a forward pass
            # over the test set costs about a third of a training step per image.
            val_seconds = self.val_seconds
            if val_seconds is None:
                val_seconds = len(x_test) / batch_size * seconds_per_batch / 3
            return batches_left * seconds_per_batch + validations_left * val_seconds

    return LiveCallback()


def lower_priority(niceness: int) -> None:
    """Raise this process's niceness by `niceness`, for every thread it has and will have.

    Linux keeps a niceness per thread, and a new thread takes its creator's: so the main
    thread goes first (TensorFlow's pools are made from it later), then any thread that
    already runs (a library's background thread started at import).
    """
    target = os.nice(niceness)
    tasks = Path("/proc/self/task")
    if tasks.is_dir():
        for task in tasks.iterdir():
            with contextlib.suppress(OSError, ValueError):  # a thread may end meanwhile
                os.setpriority(os.PRIO_PROCESS, int(task.name), target)


def run_training(run_dir: Path, data_path: str | None = None) -> int:
    """Train the config in `run_dir`, writing the run as it goes; return the exit code."""
    run_dir = run_dir.absolute()
    lower_priority(NICENESS)
    stop_signal = {"received": False}

    def on_signal(signum, frame) -> None:
        stop_signal["received"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def should_stop() -> bool:
        return stop_signal["received"] or (run_dir / "stop").exists()

    writer = RunWriter(run_dir)
    writer.set_status(state="queued", pid=os.getpid(), pid_start=process_start_ticks(os.getpid()))
    slot = None
    try:
        slot = jobs.wait_for_turn(run_dir, should_stop)
        if slot is None:
            raise StopRequested
        writer.set_status(state="running", started=now_iso())
        return _train(run_dir, data_path, writer, should_stop)
    except StopRequested:
        writer.set_status(state="stopped", ended=now_iso(), message="Stopped before training began.")
        writer.event("end", state="stopped")
        return EXIT_STOPPED
    except Exception as error:  # every failure ends as a `failed` run with the reason in words
        message = failure_message(error)
        traceback.print_exc()
        writer.set_status(state="failed", ended=now_iso(), error=message)
        writer.event("end", state="failed", error=message)
        print(f"failed: {message}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        writer.close()
        if slot is not None:
            slot.close()


def failure_message(error: BaseException) -> str:
    """The reason a training failed, in words a student can act on."""
    from cifar.data import DataError

    if isinstance(error, TrainingFailed | DataError | ValueError):
        return str(error)
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        return (
            "Training ran out of memory. Try a smaller batch size, fewer filters or dense units, or fewer conv blocks."
        )
    if isinstance(error, OSError):
        where = error.filename or "the runs folder"
        reason = error.strerror or error
        return f"Could not write the run ({reason}): check that {where} is writable and the disk has room."
    return f"{type(error).__name__}: {error}"


def _train(run_dir: Path, data_path: str | None, writer: RunWriter, should_stop) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from cifar.data import load_dataset, stratified_subset
    from cifar.model import build_model

    config = Run(run_dir).config()
    start_epoch = int(writer.status.get("start_epoch") or 0)
    # A continued run shuffles and augments its epochs unlike the first ones of its parent.
    # Same config and seed, same machine: the same losses (see the README for the limits).
    # TensorFlow's deterministic ops are left off: on this CPU runs repeat exactly without
    # them (the tests check it), and one of three benchmarks put their cost at 7.5%
    # (benchmarks/RESULTS.md).
    keras.utils.set_random_seed(config.seed + start_epoch)

    dataset = load_dataset(data_path or writer.status.get("data_path"))
    x_train, y_train = dataset.x_train, dataset.y_train
    if config.train_size is not None and config.train_size < len(y_train):
        chosen = stratified_subset(y_train, config.train_size, config.seed)
        x_train, y_train = x_train[chosen], y_train[chosen]
    if start_epoch:
        earlier_labels = Run(run_dir).labels()
        if len(earlier_labels) != len(dataset.y_test) or not np.array_equal(earlier_labels, dataset.y_test):
            raise TrainingFailed(
                f"Run {writer.status.get('resumed_from')} was tested on other data than "
                f"{dataset.source}: continue it with the dataset it was trained on."
            )
    save_npy_atomic(run_dir / "labels.npy", dataset.y_test)
    writer.set_status(
        data={
            "source": dataset.source,
            "class_names": list(dataset.class_names),
            "train_images": len(y_train),
            "test_images": len(dataset.y_test),
        }
    )

    # A continued run: weights and optimizer state (Adam's moments, the step count) as its parent left them.
    model = Run(run_dir).load_model() if start_epoch else build_model(config, len(y_train))
    steps = math.ceil(len(y_train) / config.batch_size)
    writer.event(
        "start",
        epochs=config.epochs,
        start_epoch=start_epoch,
        steps=steps,
        batch_size=config.batch_size,
        train_images=len(y_train),
        test_images=len(dataset.y_test),
        parameters=int(model.count_params()),
    )
    live = make_live_callback(
        writer, shared_tensor(dataset.x_test), dataset.y_test, steps, config.epochs, config.batch_size, should_stop
    )
    model.fit(
        shared_tensor(x_train),
        shared_tensor(y_train),
        batch_size=config.batch_size,
        epochs=config.epochs,
        initial_epoch=start_epoch,
        shuffle=True,
        verbose=0,
        callbacks=[live],
    )
    done = len(writer.history["epoch"])
    if live.stopped_at is not None or (should_stop() and done < config.epochs):
        where = ""
        if live.stopped_at is not None:
            epoch, batch = live.stopped_at
            where = f" during epoch {epoch} (batch {batch} of {steps})"
        kept = (
            f"the run keeps epochs 1–{done}"
            if done > 1
            else ("the run keeps epoch 1" if done else "no epoch had finished, so there is no model")
        )
        writer.set_status(state="stopped", ended=now_iso(), message=f"Stopped on request{where}; {kept}.")
        writer.event("end", state="stopped")
        return EXIT_STOPPED
    writer.set_status(state="finished", ended=now_iso())
    writer.event("end", state="finished")
    return EXIT_FINISHED
