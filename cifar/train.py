"""The training process: `python -m cifar.train RUN_DIR` trains the run a launcher prepared.

The launcher (cifar/jobs.py, or `python -m cifar train`) writes RUN_DIR's config and a queued
status; this process waits its turn in the local queue (cifar/local_queue.py) when the run's
backend is the local one, then fits the model and writes the run as it goes (cifar/writer.py).
Validation is on the test set at the end of every epoch, as in the tutorial, in one pass that
yields the validation loss, accuracy and the stored class probabilities together.

Exit codes: 0 finished, 1 failed, 2 no run in RUN_DIR, 3 stopped on request.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

# Nothing imported here needs more than the standard library: a Python that lacks the project's
# packages reaches `main`, which says so (`missing_package`), rather than a traceback.
from cifar import devices, local_queue
from cifar.errors import CifarError, TrainingFailed
from cifar.events import EventLog
from cifar.layout import RunFiles
from cifar.liveness import process_start_ticks
from cifar.model import load_config
from cifar.status import DataInfo, now_iso, read_status, write_status

if TYPE_CHECKING:
    import numpy as np

    from cifar.writer import RunWriter

EXIT_FINISHED, EXIT_FAILED, EXIT_NO_RUN, EXIT_STOPPED = 0, 1, 2, 3
TRAINER_PACKAGES = ("numpy", "tensorflow", "keras", "PIL")  # what a training imports beyond the standard library
# Training yields the CPU to the web server when both want it (benchmarks/bench_app.py
# measures pages while a training runs); alone, it runs as fast.
NICENESS = 10


class StopRequested(Exception):
    """A stop arrived before training began."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cifar.train",
        description="Train the run prepared in RUN_DIR (its config.json and status.json), as a launcher "
        "starts it. To train from a terminal, use `python -m cifar train`.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    run_dir = parser.parse_args(argv).run_dir.absolute()
    if not RunFiles(run_dir).config.is_file() or not RunFiles(run_dir).status.is_file():
        print(f"error: {run_dir} holds no prepared run (config.json and status.json).", file=sys.stderr)
        return EXIT_NO_RUN
    missing = missing_package()
    if missing:
        return fail_without(missing, run_dir)
    return run_training(run_dir)


def missing_package() -> str | None:
    """The first package a training needs that this Python lacks; found without importing any."""
    return next((name for name in TRAINER_PACKAGES if importlib.util.find_spec(name) is None), None)


def fail_without(package: str, run_dir: Path) -> int:
    """End the run as failed, saying which Python lacks `package` and what to do; return the exit code."""
    files = RunFiles(run_dir)
    status = read_status(files.status)
    if status.backend == "ray":
        advice = (
            "on every machine of the cluster, activate the project's environment (scripts/setup.sh "
            "requirements-cluster.txt, then . .venv/bin/activate) before `ray start`"
        )
    else:
        advice = "train with the project's environment (scripts/setup.sh, then .venv/bin/python)"
    lacks = f"lacks the project's packages (No module named {package!r})"
    message = f"This machine's Python ({sys.executable}) {lacks}: {advice}."
    print(f"failed: {message}", file=sys.stderr)  # a cluster shows the job's output
    with contextlib.suppress(OSError):
        ended = {"ended": now_iso(), "error": message, "host": socket.gethostname(), "pid": os.getpid()}
        write_status(files.status, status.replace(state="failed", pid_start=process_start_ticks(os.getpid()), **ended))
        log = EventLog(files.events)
        log.append("end", state="failed", error=message)
        log.close()
    return EXIT_FAILED


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


def _stop_signals(run_dir: Path) -> Callable[[], bool]:
    """A check for a stop: SIGTERM, SIGINT (Ctrl-C) or the run's stop file."""
    received = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: received.append(number))
    stop_file = RunFiles(run_dir).stop
    return lambda: bool(received) or stop_file.exists()


def run_training(run_dir: Path) -> int:
    """Train the prepared run in `run_dir`, writing the run as it goes; return the exit code."""
    from cifar.writer import RunWriter

    lower_priority(NICENESS)
    should_stop = _stop_signals(run_dir)
    writer = RunWriter(run_dir)
    pid = os.getpid()
    writer.set_status(state="queued", pid=pid, pid_start=process_start_ticks(pid), host=socket.gethostname())
    in_line, slot = writer.status, None
    try:
        if writer.status.backend == "local":
            slot = local_queue.wait_for_turn(run_dir, in_line, should_stop)
            if slot is None:
                raise StopRequested
        elif should_stop():  # a cluster started it after its stop was asked
            raise StopRequested
        writer.set_status(state="running", started=now_iso())
        local_queue.leave(run_dir, in_line)
        return _train(run_dir, writer, should_stop)
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
        local_queue.leave(run_dir, in_line)
        writer.close()
        if slot is not None:
            slot.close()


def failure_message(error: BaseException) -> str:
    """The reason a training failed, in words a student can act on."""
    if isinstance(error, CifarError):
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


def shared_tensor(array: np.ndarray):
    """A TensorFlow tensor over the array's own memory (DLPack), not a copy of it.

    Handed numpy arrays, Keras' `fit` and `predict` copy them into tensors first: for the
    training set a second 150 MB. TensorFlow can only share memory that starts on a 64-byte
    boundary (it aborts otherwise), so an array that does not is copied once into one that
    does (`cifar.data.aligned`). The tensor keeps the array alive; nothing may write to the
    array afterwards.
    """
    import tensorflow as tf

    from cifar.data import aligned

    return tf.experimental.dlpack.from_dlpack(aligned(array).__dlpack__())


def training_batches(x_train: np.ndarray, targets: np.ndarray, batch_size: int):
    """Batches in a new random order every epoch, from one pipeline started once for the run.

    Handed arrays, Keras' `fit` builds its input pipeline over them again at every epoch, and
    starting one copies the training set: 20 to 40 s between epochs here for the 50,000 images,
    a third of a short run's time (benchmarks/RESULTS.md, section 8). This pipeline is never
    restarted: each epoch draws a permutation of the images, and each batch gathers its images
    from tensors over the arrays' own memory. Like Keras' own, the last batch of an epoch may
    be short. `fit` reads it with `steps_per_epoch` (ceil(images / batch_size)).
    """
    import tensorflow as tf

    images, labels = shared_tensor(x_train), shared_tensor(targets)
    count = len(x_train)

    def epoch(_):
        order = tf.random.shuffle(tf.range(count, dtype=tf.int64))  # seeded by keras.utils.set_random_seed
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def gather(chosen):
        return tf.gather(images, chosen), tf.gather(labels, chosen)

    return tf.data.Dataset.range(1).repeat().flat_map(epoch).map(gather).prefetch(2)


def _training_data(run_dir: Path, writer: RunWriter, config):
    """The training images and labels the config asks for, and the test set; labels saved."""
    import numpy as np

    from cifar.data import load_dataset, stratified_subset
    from cifar.runs import Run

    dataset = load_dataset(writer.status.data_path)
    x_train, y_train = dataset.x_train, dataset.y_train
    if config.train_size is not None and config.train_size < len(y_train):
        chosen = stratified_subset(y_train, config.train_size, config.seed)
        x_train, y_train = x_train[chosen], y_train[chosen]
    if writer.status.start_epoch:
        earlier = Run(run_dir).labels()
        if len(earlier) != len(dataset.y_test) or not np.array_equal(earlier, dataset.y_test):
            raise TrainingFailed(
                f"Run {writer.status.resumed_from} was tested on other data than {dataset.source}: "
                "continue it with the dataset it was trained on."
            )
    writer.save_labels(dataset.y_test)
    writer.set_status(data=DataInfo(dataset.source, tuple(dataset.class_names), len(y_train), len(dataset.y_test)))
    return x_train, y_train, dataset.x_test, dataset.y_test


def _train(run_dir: Path, writer: RunWriter, should_stop: Callable[[], bool]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from cifar.live import LiveCallback
    from cifar.network import build_model, training_targets
    from cifar.runs import Run

    config = load_config(RunFiles(run_dir).config)
    start_epoch = writer.status.start_epoch
    precision = devices.compute_precision(config)
    writer.set_status(machine=devices.machine(), precision=precision.policy, notice=precision.notice)
    if precision.notice:
        print(precision.notice, file=sys.stderr)
    # The same config and seed on the same machine give the same losses (the README says
    # where that ends); a continued run shuffles and augments unlike its parent's first epochs.
    keras.utils.set_random_seed(config.seed + start_epoch)
    x_train, y_train, x_test, y_test = _training_data(run_dir, writer, config)
    # A continued run: weights and optimizer state (Adam's moments, the step count) as its parent left them.
    with devices.distribution().scope():  # two or more GPUs: a copy of the model on each
        model = Run(run_dir).load_model() if start_epoch else build_model(config, len(y_train), precision.policy)
    steps = math.ceil(len(y_train) / config.batch_size)
    writer.event(
        "start",
        epochs=config.epochs,
        start_epoch=start_epoch,
        steps=steps,
        batch_size=config.batch_size,
        train_images=len(y_train),
        test_images=len(y_test),
        parameters=int(model.count_params()),
    )
    live = LiveCallback(writer, shared_tensor(x_test), y_test, steps, config, should_stop)
    model.fit(
        training_batches(x_train, training_targets(config, y_train), config.batch_size),
        steps_per_epoch=steps,
        epochs=config.epochs,
        initial_epoch=start_epoch,
        verbose=0,
        callbacks=[live],
    )
    done = len(writer.history["epoch"])
    if live.stopped_at is not None or (should_stop() and done < config.epochs):
        writer.set_status(state="stopped", ended=now_iso(), message=stopped_message(live.stopped_at, steps, done))
        writer.event("end", state="stopped")
        return EXIT_STOPPED
    writer.set_status(state="finished", ended=now_iso())
    writer.event("end", state="finished")
    return EXIT_FINISHED


def stopped_message(stopped_at: tuple[int, int] | None, steps: int, done: int) -> str:
    """How a stopped run ended and what it keeps, in words."""
    where = ""
    if stopped_at is not None:
        epoch, batch = stopped_at
        where = f" during epoch {epoch} (batch {batch} of {steps})"
    if done > 1:
        kept = f"the run keeps epochs 1–{done}"
    else:
        kept = "the run keeps epoch 1" if done else "no epoch had finished, so there is no model"
    return f"Stopped on request{where}; {kept}."


if __name__ == "__main__":
    sys.exit(main())
