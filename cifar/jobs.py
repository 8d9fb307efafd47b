"""Launching, queueing, stopping and finding training processes.

Each training is its own `python -m cifar train --run-dir ...` process. The queue needs no
server: a process that may not train yet waits by itself, before it imports TensorFlow, so
queued runs start in order when the one before ends, whether or not any page is open.

- A slot is an exclusive `flock` on `<runs>/.slots/slot-K.lock`, held for the life of the
  training process; the kernel releases it when the process ends, even by SIGKILL.
- The queue is `<runs>/.queue/`, one entry per waiting process, named so that the oldest
  launch sorts first; only the first live entry may take a free slot.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cifar.estimate import check_feasible
from cifar.files import write_json_atomic
from cifar.model import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES, MAX_EPOCHS, ModelConfig, save_config
from cifar.runs import (
    LIVE_STATES,
    Run,
    RunError,
    create_run_dir,
    list_runs,
    now_iso,
    open_run,
    process_alive,
    runs_root,
)

DEFAULT_MAX_TRAININGS = 1  # a 2-core machine trains one model at a time at full speed
_children: list[subprocess.Popen] = []  # reaped on every call, so none lingers as a zombie


def max_trainings() -> int:
    """How many trainings may run at once: `CIFAR_MAX_TRAININGS`, default 1."""
    try:
        return max(1, int(os.environ.get("CIFAR_MAX_TRAININGS", DEFAULT_MAX_TRAININGS)))
    except ValueError:
        return DEFAULT_MAX_TRAININGS


def prepare_run(
    config: ModelConfig,
    runs_dir: str | os.PathLike | None = None,
    name: str | None = None,
    data: str | os.PathLike | None = None,
    resume: Run | None = None,
) -> Path:
    """Create a run directory holding the config and a `queued` status; return its path.

    With `resume`, the new run continues that run: it starts with a copy of its model
    (weights and optimizer state), history and per-epoch predictions, and `config.epochs`
    is the epoch the new run ends at.

    Raises:
        ValueError: the config would not fit in this machine's memory (the message says how much).
        RunError: the runs folder cannot be written.
    """
    refusal = check_feasible(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES).refusal
    if refusal:
        raise ValueError(refusal)
    root = runs_root(runs_dir)
    try:
        path = create_run_dir(root, name or "run")
    except OSError as error:
        raise RunError(
            f"Cannot create a run in {root} ({error.strerror or error}): the runs folder must be a writable "
            "folder (set CIFAR_RUNS_DIR or --runs-dir to choose another)."
        ) from error
    status = {
        "state": "queued",
        "name": name or "",
        "created": now_iso(),
        "created_unix": time.time(),
        "queue_key": time.time_ns(),
        "epoch": 0,
        "epochs": config.epochs,
        "data_path": str(Path(data).absolute()) if data else None,
    }
    try:
        if resume is not None:
            status.update(_copy_for_resume(resume, path))
            status["data_path"] = status["data_path"] or resume.raw_status().get("data_path")
        write_json_atomic(path / "status.json", status)
        # The config last: a run is listed once it has one, and by then its status is there too.
        save_config(config, path / "config.json")
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # no half-made run is left to list
        raise
    return path


def check_continuable(parent: Run) -> int:
    """The epochs `parent` has finished, when it can be continued; RunError saying why not."""
    state = parent.status()["state"]
    if state in LIVE_STATES:
        raise RunError(f"Run {parent.id} is still {state}: continue it once it has ended (or stop it first).")
    done = len(parent.history().get("epoch") or [])
    if not done or not parent.has_model():
        raise RunError(f"Run {parent.id} has no finished epoch, so there is nothing to continue from.")
    config = parent.config()
    if config.lr_schedule != "constant":
        raise RunError(
            f"Run {parent.id} planned its {config.lr_schedule} learning-rate schedule for its own "
            f"{config.epochs} epochs, at the end of which the rate is zero: more epochs would hardly "
            "change it. Start a new run with more epochs instead."
        )
    return done


def resume_config(parent: Run, more_epochs: int) -> ModelConfig:
    """The config of a run that trains `parent` for `more_epochs` more epochs.

    Raises:
        RunError: the parent cannot be continued (`check_continuable` says why).
        ValueError: `more_epochs` is not a whole number, or the total would pass the limit.
    """
    done = check_continuable(parent)
    if isinstance(more_epochs, bool) or not isinstance(more_epochs, int) or not 1 <= more_epochs <= MAX_EPOCHS - done:
        raise ValueError(
            f"epochs to add must be a whole number from 1 to {MAX_EPOCHS - done} (run {parent.id} has "
            f"{done} and a run ends by epoch {MAX_EPOCHS}); got {more_epochs!r}"
        )
    return parent.config().replace(epochs=done + more_epochs)


def _copy_for_resume(parent: Run, path: Path) -> dict:
    """Copy what the continued run starts from; return the status fields that say so."""
    history = parent.history()
    done = len(history.get("epoch") or [])
    for name in ("model.keras", "labels.npy"):
        shutil.copyfile(parent.path / name, path / name)
    (path / "predictions").mkdir()
    for epoch in parent.prediction_epochs():
        if epoch <= done:
            name = f"epoch-{epoch:03d}.npy"
            shutil.copyfile(parent.path / "predictions" / name, path / "predictions" / name)
    write_json_atomic(path / "history.json", history)
    parent_status = parent.raw_status()
    return {
        "resumed_from": parent.id,
        "start_epoch": done,
        "epoch": done,
        "data": parent_status.get("data"),
    }


def launch(
    config: ModelConfig,
    runs_dir: str | os.PathLike | None = None,
    name: str | None = None,
    data: str | os.PathLike | None = None,
) -> Run:
    """Start a training process for `config`; it queues itself if another is training.

    Args:
        config: what to train.
        runs_dir: the runs folder (default: `CIFAR_RUNS_DIR`, else ./runs).
        name: a label for the run, part of its id.
        data: the dataset path (default: `CIFAR10_DIR`, else Keras' download).

    Returns:
        The new run, already readable with `cifar.runs`.
    """
    return _start(prepare_run(config, runs_dir, name, data), data)


def prepare_resume(
    parent: Run,
    more_epochs: int,
    runs_dir: str | os.PathLike | None = None,
    name: str | None = None,
    data: str | os.PathLike | None = None,
) -> Path:
    """Create the run that continues `parent` for `more_epochs` (beside it by default).

    Raises:
        RunError: the parent is still training or has nothing to continue from.
        ValueError: `more_epochs` is out of range.
    """
    config = resume_config(parent, more_epochs)
    label = name or f"{parent.raw_status().get('name') or 'run'}-more"
    return prepare_run(config, runs_dir or parent.path.parent, label, data, resume=parent)


def resume(parent: Run, more_epochs: int, name: str | None = None) -> Run:
    """Train `parent` for `more_epochs` more epochs, as a new run that starts from its model
    and optimizer state and whose history carries on from where it ended.

    Raises:
        RunError: the parent is still training or has nothing to continue from.
        ValueError: `more_epochs` is out of range.
    """
    return _start(prepare_resume(parent, more_epochs, name=name), None)


def _start(path: Path, data: str | os.PathLike | None) -> Run:
    command = [sys.executable, "-m", "cifar", "train", "--run-dir", str(path)]
    if data:
        command += ["--data", str(Path(data).absolute())]
    package_parent = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with open(path / "log.txt", "ab") as log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            # Its own session: a Ctrl-C in the server's terminal does not reach the training.
            start_new_session=True,
        )
    # Queued here, not by the child: a child that starts faster must not jump the queue.
    _enqueue(path, child.pid)
    _children.append(child)
    _reap()
    return Run(path)


def stop(run: Run | str, runs_dir: str | os.PathLike | None = None) -> bool:
    """Ask a queued or running training to stop after its current batch.

    Args:
        run: the run, or its id in `runs_dir`.

    Returns:
        True when the run was live and has been asked; False when it had already ended.
    """
    _reap()
    target = run if isinstance(run, Run) else open_run(run, runs_dir)
    status = target.status()
    if status["state"] not in LIVE_STATES:
        return False
    (target.path / "stop").touch()
    pid = status.get("pid")
    if pid and process_alive(pid, status.get("pid_start")):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    return True


def delete(run: Run) -> None:
    """Delete a run that is not training, all at once: it is renamed out of the listing
    first, so no reader ever sees half of it.

    Raises:
        RunError: the run is queued or running (stop it first).
    """
    _reap()
    state = run.status()["state"]
    if state in LIVE_STATES:
        raise RunError(f"Run {run.id} is {state}: stop it first, then delete it.")
    hidden = run.path.with_name(f".deleting-{run.id}-{time.time_ns()}")
    os.replace(run.path, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


@dataclass(frozen=True)
class Job:
    """A live training: its run, state and place in the queue (0 = training now)."""

    run: Run
    state: str
    queue_position: int


def live_jobs(runs_dir: str | os.PathLike | None = None) -> list[Job]:
    """Runs that are training or queued, the training ones first, then in queue order."""
    _reap()
    live = [(run, run.status()) for run in list_runs(runs_dir)]
    live = [(run, status) for run, status in live if status["state"] in LIVE_STATES]
    running = [run for run, status in live if status["state"] == "running"]
    queued = sorted(
        (run for run, status in live if status["state"] == "queued"),
        key=lambda run: run.raw_status().get("queue_key", 0),
    )
    jobs = [Job(run, "running", 0) for run in running]
    jobs += [Job(run, "queued", position) for position, run in enumerate(queued, start=1)]
    return jobs


def wait_for_turn(run_dir: Path, should_stop: Callable[[], bool], poll_seconds: float = 0.5):
    """Block until this run may train; return the held slot (keep it open), or None if stopped.

    Called by the training process itself, before it imports TensorFlow.
    """
    entry = _enqueue(run_dir, os.getpid())
    try:
        while not should_stop():
            if _first_in_queue(entry.parent, entry):
                slot = _take_slot(run_dir.parent / ".slots", max_trainings())
                if slot is not None:
                    return slot
            time.sleep(poll_seconds)
        return None
    finally:
        entry.unlink(missing_ok=True)


def _enqueue(run_dir: Path, pid: int) -> Path:
    queue_dir = run_dir.parent / ".queue"
    queue_dir.mkdir(parents=True, exist_ok=True)
    key = Run(run_dir).raw_status().get("queue_key") or time.time_ns()
    entry = queue_dir / f"{key:020d}-{run_dir.name}"
    entry.write_text(str(pid))
    return entry


def _first_in_queue(queue_dir: Path, entry: Path) -> bool:
    for name in sorted(os.listdir(queue_dir)):
        if name == entry.name:
            return True
        if _entry_alive(queue_dir / name):
            return False
        (queue_dir / name).unlink(missing_ok=True)  # left by a process that died waiting
    return True


def _entry_alive(entry: Path) -> bool:
    try:
        return process_alive(int(entry.read_text() or 0))
    except (OSError, ValueError):
        return False


def _take_slot(slots_dir: Path, count: int):
    slots_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        handle = open(slots_dir / f"slot-{index}.lock", "a")  # noqa: SIM115 (held open on purpose)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            handle.close()
    return None


def _reap() -> None:
    for child in list(_children):
        if child.poll() is not None:
            _children.remove(child)
