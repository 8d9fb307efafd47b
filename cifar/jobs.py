"""Launching, continuing, stopping, listing and deleting trainings.

A launch writes a run directory (its config and a queued status) and asks the backend
(cifar/backend.py) to start the trainer on it. Nothing else passes between the launcher and
the training: every page and command reads the run directory.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from datetime import datetime
from pathlib import Path

from cifar import local_queue
from cifar.backend import Job, all_backends, backend, backend_of
from cifar.classroom import clean_who
from cifar.cluster import RayBackend
from cifar.errors import ConfigError, RunError
from cifar.estimate import check_feasible
from cifar.files import write_json_atomic
from cifar.layout import RunFiles
from cifar.model import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES, MAX_EPOCHS, ModelConfig, save_config
from cifar.network import continuation_refusal
from cifar.runs import Run, open_run, runs_root
from cifar.status import RunStatus, now_iso, write_status


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "run"


def _create_run_dir(root: Path, name: str) -> Path:
    """A new, empty run directory named `<time>-<name>-<random>`; never reuses one."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    while True:
        path = root / f"{stamp}-{_slug(name)}-{secrets.token_hex(2)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def prepare_run(
    config: ModelConfig,
    runs_dir: str | os.PathLike | None = None,
    name: str | None = None,
    data: str | os.PathLike | None = None,
    resume: Run | None = None,
    who: str = "",
    backend_name: str | None = None,
) -> Path:
    """Create a run directory holding the config and a queued status; return its path.

    `who` is the name of the person launching it; the local queue takes turns between names.
    `backend_name` is what will start it (default: where new trainings go, `backend()`); the
    command line's `train`, which trains in its own process, says "local".
    With `resume`, the new run continues that run: it starts with a copy of its model
    (weights and optimizer state), history and per-epoch predictions, and `config.epochs`
    is the epoch the new run ends at.

    Raises:
        ConfigError: the config would not fit in this machine's memory (the message says how much),
            or `who` is not a name.
        RunError: the runs folder cannot be written.
    """
    who = clean_who(who)
    refusal = check_feasible(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES).refusal
    if refusal:
        raise ConfigError(refusal)
    root = runs_root(runs_dir)
    try:
        path = _create_run_dir(root, name or "run")
    except OSError as error:
        raise RunError(
            f"Cannot create a run in {root} ({error.strerror or error}): the runs folder must be a writable "
            "folder (set CIFAR_RUNS_DIR or --runs-dir to choose another)."
        ) from error
    status = RunStatus(
        name=name or "",
        who=who,
        created=now_iso(),
        created_unix=time.time(),
        queue_key=time.time_ns(),
        queue_turn=local_queue.next_turn(root, who),
        backend=backend_name or backend().name,
        epochs=config.epochs,
        data_path=str(Path(data).absolute()) if data else None,
    )
    try:
        if resume is not None:
            status = _copy_for_resume(resume, path, status)
        write_status(RunFiles(path).status, status)
        # The config last: a run is listed once it has one, and by then its status is there too.
        save_config(config, RunFiles(path).config)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # no half-made run is left to list
        raise
    return path


def check_continuable(parent: Run) -> int:
    """The epochs `parent` has finished, when it can be continued; RunError saying why not."""
    status = parent.status()
    if status.live:
        raise RunError(f"Run {parent.id} is still {status.state}: continue it once it has ended (or stop it first).")
    done = len(parent.history().get("epoch") or [])
    if not done or not parent.has_model():
        raise RunError(f"Run {parent.id} has no finished epoch, so there is nothing to continue from.")
    refusal = continuation_refusal(parent.config())
    if refusal:
        raise RunError(f"Run {parent.id} cannot usefully continue: {refusal}")
    return done


def resume_config(parent: Run, more_epochs: int) -> ModelConfig:
    """The config of a run that trains `parent` for `more_epochs` more epochs.

    Raises:
        RunError: the parent cannot be continued (`check_continuable` says why).
        ConfigError: `more_epochs` is not a whole number, or the total would pass the limit.
    """
    done = check_continuable(parent)
    if isinstance(more_epochs, bool) or not isinstance(more_epochs, int) or not 1 <= more_epochs <= MAX_EPOCHS - done:
        raise ConfigError(
            f"epochs to add must be a whole number from 1 to {MAX_EPOCHS - done} (run {parent.id} has "
            f"{done} and a run ends by epoch {MAX_EPOCHS}); got {more_epochs!r}"
        )
    return parent.config().replace(epochs=done + more_epochs)


def _copy_for_resume(parent: Run, path: Path, status: RunStatus) -> RunStatus:
    """Copy what the continued run starts from; return its status, saying so."""
    history = parent.history()
    done = len(history.get("epoch") or [])
    source, target = parent.files, RunFiles(path)
    shutil.copyfile(source.model, target.model)
    shutil.copyfile(source.labels, target.labels)
    target.predictions.mkdir()
    for epoch in parent.prediction_epochs():
        if epoch <= done:
            shutil.copyfile(source.prediction(epoch), target.prediction(epoch))
    target.weights.mkdir()
    for epoch in parent.weight_epochs():
        shutil.copyfile(source.weights_file(epoch), target.weights_file(epoch))
    write_json_atomic(target.history, history)
    written = parent.written_status()
    return status.replace(
        resumed_from=parent.id,
        start_epoch=done,
        epoch=done,
        data=written.data,
        data_path=status.data_path or written.data_path,
    )


def launch(
    config: ModelConfig,
    runs_dir: str | os.PathLike | None = None,
    name: str | None = None,
    data: str | os.PathLike | None = None,
    who: str = "",
) -> Run:
    """Start a training for `config`; it waits its turn if others are training.

    Args:
        config: what to train.
        runs_dir: the runs folder (default: `CIFAR_RUNS_DIR`, else ./runs).
        name: a label for the run, part of its id.
        data: the dataset path (default: `CIFAR10_DIR`, else Keras' download).
        who: the name of the person launching it (the queue takes turns between names).

    Returns:
        The new run, already readable with `cifar.runs`.

    Raises:
        ConfigError: the config would not fit in memory, or `who` is not a name.
        RunError: the runs folder cannot be written.
    """
    path = prepare_run(config, runs_dir, name, data, who=who)
    backend().start(path)
    return Run(path)


def prepare_resume(
    parent: Run,
    more_epochs: int,
    runs_dir: str | os.PathLike | None = None,
    name: str | None = None,
    data: str | os.PathLike | None = None,
    who: str = "",
    backend_name: str | None = None,
) -> Path:
    """Create the run that continues `parent` for `more_epochs` (beside it by default).

    Raises:
        RunError: the parent is still training or has nothing to continue from.
        ConfigError: `more_epochs` is out of range.
    """
    config = resume_config(parent, more_epochs)
    label = name or f"{parent.written_status().name or 'run'}-more"
    return prepare_run(
        config, runs_dir or parent.path.parent, label, data, resume=parent, who=who, backend_name=backend_name
    )


def resume(parent: Run, more_epochs: int, name: str | None = None, who: str = "") -> Run:
    """Train `parent` for `more_epochs` more epochs, as a new run that starts from its model
    and optimizer state and whose history carries on from where it ended.

    Raises:
        RunError: the parent is still training or has nothing to continue from.
        ConfigError: `more_epochs` is out of range.
    """
    path = prepare_resume(parent, more_epochs, name=name, who=who)
    backend().start(path)
    return Run(path)


def stop(run: Run | str, runs_dir: str | os.PathLike | None = None) -> bool:
    """Ask a queued or running training to stop after its current batch.

    Args:
        run: the run, or its id in `runs_dir`.

    Returns:
        True when the run was live and has been asked; False when it had already ended.
    """
    target = run if isinstance(run, Run) else open_run(run, runs_dir)
    if not target.status().live:
        return False
    backend_of(target).stop(target)  # the backend that started it, wherever new runs go now
    return True


def wait_for_stop(run: Run) -> str | None:
    """After `stop`, for a run on a Ray cluster: wait until it has ended, and past the grace
    period (CIFAR_RAY_STOP_GRACE) have Ray end its job. A page does not wait (the next look at
    the run does this); the command line does.

    Returns:
        How the run ended, in words; None for a run of this machine (its trainer has had SIGTERM).

    Raises:
        RunError: Ray cannot be asked to end the job.
    """
    chosen = backend_of(run)
    return chosen.end_after_grace(run) if isinstance(chosen, RayBackend) else None


def delete(run: Run) -> None:
    """Delete a run that is not training, all at once: it is renamed out of the listing
    first, so no reader ever sees half of it.

    Raises:
        RunError: the run is queued or running (stop it first).
    """
    status = run.status()
    if status.live:
        raise RunError(f"Run {run.id} is {status.state}: stop it first, then delete it.")
    hidden = run.path.with_name(f".deleting-{run.id}-{time.time_ns()}")
    os.replace(run.path, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def live_jobs(runs_dir: str | os.PathLike | None = None) -> list[Job]:
    """Runs that are training or queued, the training ones first, then in queue order: this
    machine's line, then a Ray cluster's (each backend numbers its own line)."""
    found = [job for each in all_backends() for job in each.live_jobs(runs_dir)]
    return sorted(found, key=lambda job: job.state != "running")  # stable: each line keeps its order
