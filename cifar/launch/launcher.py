"""Launching, continuing, stopping, listing and deleting trainings, and how a run stands.

A launch writes a run directory (its config and a queued status) and asks a backend
(cifar/launch/backend.py) to start the trainer on it. Nothing else passes between the launcher
and the training: every page and command reads the run directory. Where a run's status cannot
say how it stands (its process died, its cluster ended its job), `status` asks the backend that
started it; acting on what it learns (ending a job whose stop is overdue) is the launcher's own
action, never a read's.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from cifar.atomic import write_json_atomic
from cifar.config.settings import CIFAR_TEST_IMAGES, CIFAR_TRAIN_IMAGES, MAX_EPOCHS, ModelConfig
from cifar.errors import CifarError, ConfigError, NotAllowed, RunError, os_errors_as
from cifar.launch.backend import Backend, Job
from cifar.launch.backends import backend_of, for_new_runs
from cifar.launch.estimate import check_feasible
from cifar.launch.rules import check_launch, read_rules
from cifar.network.build import continuation_refusal
from cifar.runs.audit import class_lock, record
from cifar.runs.config_file import save_config
from cifar.runs.layout import RunFiles
from cifar.runs.owner import Person, check_may_act
from cifar.runs.run import Run, list_runs, open_run, runs_root
from cifar.runs.status import RunStatus, now_iso, read_status, write_status
from cifar.training import local_queue

POLL_SECONDS = 0.2
ENDING_SECONDS = 30.0  # after a backend was asked to end a training: its SIGTERM, SIGKILL and last writes
_WRITABLE = "check that the runs folder is writable and the disk has room"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "run"


def _create_run_dir(root: Path, name: str) -> Path:
    """A new, empty run directory named `<time>-<name>-<random>`; never reuses one.

    Raises:
        RunError: the runs folder cannot be written.
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        root.mkdir(parents=True, exist_ok=True)
        while True:
            path = root / f"{stamp}-{_slug(name)}-{secrets.token_hex(2)}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as error:
        raise RunError(
            f"Cannot create a run in {root} ({error.strerror or error}): the runs folder must be a writable "
            "folder (set CIFAR_RUNS_DIR or --runs-dir to choose another)."
        ) from error


def prepare_run(
    config: ModelConfig,
    runs_dir: str | os.PathLike | None = None,
    name: str | None = None,
    data: str | os.PathLike | None = None,
    resume: Run | None = None,
    *,
    person: Person,
    backend: Backend | None = None,
    cell: tuple[str, tuple[int, ...]] | None = None,
) -> Path:
    """Create a run directory holding the config and a queued status; return its path.

    `person` is who launches it: the run is theirs, and the local queue takes turns between people.
    A student's launch is held to the class's limits (cifar/launch/rules.py).
    `backend` is what will start it (default: where new trainings go); the command line's
    `train`, which trains in its own process, names this machine's.
    `cell` is the class experiment and the cell the run trains, when it trains one.
    With `resume`, the new run continues that run: it starts with a copy of its model
    (weights and optimizer state), history and per-epoch predictions, and `config.epochs`
    is the epoch the new run ends at.

    Raises:
        ConfigError: the config would not fit in this machine's memory (the message says how much).
        NotAllowed: a student's launch passes a class limit (recorded in the audit log).
        RunError: the runs folder cannot be written; CIFAR_RAY_ADDRESS names a cluster that cannot be used.
    """
    chosen = backend or for_new_runs()
    refusal = check_feasible(config, CIFAR_TRAIN_IMAGES, CIFAR_TEST_IMAGES).refusal
    if refusal:
        raise ConfigError(refusal)
    root = runs_root(runs_dir)
    # A student's launches are checked against the class's limits and made one at a time, so
    # that launches pressed at once cannot all pass a count taken before any was made.
    with class_lock(root, "launch") if person.role == "student" else contextlib.nullcontext():
        _check_class_limits(person, config, root, "continue" if resume is not None else "launch")
        return _write_new_run(config, root, name, data, resume, person, chosen, cell)


def _write_new_run(
    config: ModelConfig,
    root: Path,
    name: str | None,
    data: str | os.PathLike | None,
    resume: Run | None,
    person: Person,
    chosen: Backend,
    cell: tuple[str, tuple[int, ...]] | None = None,
) -> Path:
    path = _create_run_dir(root, name or "run")
    status = RunStatus(
        name=name or "",
        who=person.name,
        owner=person.key,
        created=now_iso(),
        created_unix=time.time(),
        queue_key=time.time_ns(),
        queue_turn=local_queue.next_turn(root, person.queue_key),
        backend=chosen.name,
        **chosen.placement(path.name),
        epochs=config.epochs,
        data_path=str(Path(data).absolute()) if data else None,
        **({"experiment": cell[0], "cell": tuple(cell[1])} if cell else {}),
    )
    try:
        with os_errors_as(RunError, f"Could not write the new run {path.name}", _WRITABLE):
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
    shown = status(parent)
    if shown.live:
        raise RunError(f"Run {parent.id} is still {shown.state}: continue it once it has ended (or stop it first).")
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
    *,
    person: Person,
    backend: Backend | None = None,
) -> Run:
    """Start a training for `config`; it waits its turn if others are training.

    Args:
        config: what to train.
        runs_dir: the runs folder (default: `CIFAR_RUNS_DIR`, else ./runs).
        name: a label for the run, part of its id.
        data: the dataset path (default: `CIFAR10_DIR`, else Keras' download).
        person: who launches it; the run is theirs (the queue takes turns between people).
        backend: where it trains (default: a Ray cluster where CIFAR_RAY_ADDRESS names one, else here).

    Returns:
        The new run, already readable with `cifar.runs`.

    Raises:
        ConfigError: the config would not fit in memory.
        NotAllowed: a student's launch passes a class limit.
        RunError: the runs folder cannot be written, or the backend could not start the training
            (the run is then listed as failed, in the same words).
    """
    chosen = backend or for_new_runs()
    end_overdue_stops(runs_dir)
    path = prepare_run(config, runs_dir, name, data, person=person, backend=chosen)
    return start(path, chosen, person=person)


def _check_class_limits(person: Person, config: ModelConfig, root: Path, action: str) -> None:
    """Refuse a student's launch past the class's limits, and record the refusal."""
    if person.role != "student":
        return
    waiting = sum(1 for run in list_runs(root) if run.written_status().owner == person.key and status(run).live)
    try:
        check_launch(person, config, waiting, read_rules(root))
    except NotAllowed as refusal:
        record(root, person, action, outcome="refused", detail=str(refusal))
        raise


def check_may(person: Person, run: Run, action: str) -> None:
    """Refuse `action` on `run` to anyone but its owner and those who may act on any run; record a refusal."""
    written = run.written_status()
    try:
        check_may_act(person, written.owner, written.who, run.id, action)
    except NotAllowed as refusal:
        record(run.path.parent, person, action, run.id, "refused", str(refusal))
        raise


def start(path: Path, backend: Backend, *, person: Person, action: str = "launch") -> Run:
    """Have `backend` start the run prepared in `path` for `person`; a run it cannot start ends as
    failed, saying why. The audit log says which (`action`: launch or continue).

    Raises:
        RunError: the backend could not start it; the message is the run's error.
    """
    try:
        backend.start(path)
    except CifarError as error:
        files = RunFiles(path)
        failed = read_status(files.status).replace(state="failed", ended=now_iso(), error=str(error))
        with os_errors_as(RunError, f"{error} The run could not be marked failed either", _WRITABLE):
            write_status(files.status, failed)
        record(path.parent, person, action, path.name, "failed", str(error))
        raise
    record(path.parent, person, action, path.name)
    return Run(path)


def prepare_resume(
    parent: Run,
    more_epochs: int,
    runs_dir: str | os.PathLike | None = None,
    name: str | None = None,
    data: str | os.PathLike | None = None,
    *,
    person: Person,
    backend: Backend | None = None,
) -> Path:
    """Create the run that continues `parent` for `more_epochs` (beside it by default); the new
    run is `person`'s.

    Raises:
        NotAllowed: `person` may not continue `parent` (it is another's), or passes a class limit.
        RunError: the parent is still training or has nothing to continue from.
        ConfigError: `more_epochs` is out of range.
    """
    check_may(person, parent, "continue")
    config = resume_config(parent, more_epochs)
    label = name or f"{parent.written_status().name or 'run'}-more"
    return prepare_run(
        config, runs_dir or parent.path.parent, label, data, resume=parent, person=person, backend=backend
    )


def resume(parent: Run, more_epochs: int, name: str | None = None, *, person: Person) -> Run:
    """Train `parent` for `more_epochs` more epochs, as a new run of `person`'s that starts from
    its model and optimizer state and whose history carries on from where it ended.

    Raises:
        NotAllowed: `person` may not continue `parent`, or passes a class limit.
        RunError: the parent is still training or has nothing to continue from.
        ConfigError: `more_epochs` is out of range.
    """
    chosen = for_new_runs()
    end_overdue_stops(parent.path.parent)
    path = prepare_resume(parent, more_epochs, name=name, person=person, backend=chosen)
    return start(path, chosen, person=person, action="continue")


def status(run: Run) -> RunStatus:
    """How `run` stands now: as its trainer wrote, with what the backend that started it knows
    where the trainer cannot say. Reading never acts: nothing here writes or ends anything.

    Returns:
        The written status for a run that has ended; for a live one, the backend's view of it
        (interrupted where its process died, failed or stopped where its cluster ended its job),
        or the written status where its backend is not one this version knows.
    """
    written = run.written_status()
    if not written.live:
        return written
    backend = backend_of(written)
    return backend.status(written) if backend is not None else written


def stop(run: Run | str, runs_dir: str | os.PathLike | None = None, *, person: Person) -> bool:
    """Ask a queued or running training to stop after its current batch, as `person` asks.

    Args:
        run: the run, or its id in `runs_dir`.

    Returns:
        True when the run is live and has been asked (now or before); False when it had ended.

    Raises:
        NotAllowed: the run is another's and `person` is no teacher (recorded in the audit log).
        RunError: the stop could not be asked (the runs folder is read-only, for one), or the
            run's backend is not one this version knows.
    """
    target = run if isinstance(run, Run) else open_run(run, runs_dir)
    check_may(person, target, "stop")
    end_overdue_stops(target.path.parent)
    written = target.written_status()
    backend = backend_of(written)
    if not status(target).live:
        return False
    if backend is None:
        raise RunError(
            f"Run {target.id} was started by a backend this version does not know ({written.backend!r}): "
            "stop it with the version of the app that launched it."
        )
    if not target.stop_requested():  # asked again, a cluster's grace would start over
        with os_errors_as(RunError, f"Could not ask run {target.id} to stop", _WRITABLE):
            backend.stop(target)  # the backend that started it, wherever new runs go now
        record(target.path.parent, person, "stop", target.id)
    return True


def wait_for_stop(run: Run) -> str | None:
    """After `stop`: where the run's backend gives a stop a grace period (a Ray cluster's
    CIFAR_RAY_STOP_GRACE), wait through it, have the backend end a training that has not
    stopped by then, and say how the run ended. A page does not wait (the launcher's next
    action, or the server's sweep, ends such a training); the command line does.

    Returns:
        How the run ended, in words; None where a stop needs no waiting (this machine's trainer had SIGTERM).

    Raises:
        RunError: the backend could not be asked to end the training, or its grace setting is bad.
    """
    backend = backend_of(run.written_status())
    grace = backend.stop_grace() if backend is not None else None
    if grace is None:
        return None
    asked = time.monotonic()
    _wait(lambda: not status(run).live, asked + grace + 1)  # the stop file's time is at most a second off
    ended = backend.end_overdue(run) if status(run).live else None
    _wait(lambda: not status(run).live, time.monotonic() + ENDING_SECONDS)
    shown = status(run)
    if not shown.live:  # how it ended says whether the backend had to end it
        return f"{run.id} is {shown.state}: {shown.message or shown.error or 'it has ended'}"
    words = f"{run.id} is still {shown.state}, {grace + ENDING_SECONDS:g} s after it was asked to stop"
    words += f": {shown.message}" if shown.message else "; ask again, or look at it with `python -m cifar runs`."
    return f"{ended} {words}" if ended else words


def _wait(done, deadline: float) -> None:
    while not done() and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)


def end_overdue_stops(runs_dir: str | os.PathLike | None = None) -> list[str]:
    """Have each backend end the trainings in the runs folder whose stop was asked longer ago
    than its grace and that still run. The launcher does this first in each of its actions
    (launch, continue, stop, delete), so a page's Stop that a training ignores is carried out
    by the next action anyone takes, pressing Stop again included; a read never does it.

    Returns:
        What was done, in words, a line for each training ended or that could not be.

    Raises:
        RunError: the runs folder cannot be listed.
    """
    done = []
    for run in list_runs(runs_dir):
        if not run.stop_requested():
            continue
        written = run.written_status()
        backend = backend_of(written)
        if not written.live or backend is None:
            continue
        try:
            said = backend.end_overdue(run)
        except CifarError as error:
            said = f"Run {run.id} was asked to stop and has not, and could not be ended: {error}"
        if said:
            done.append(said)
    return done


def delete(run: Run, *, person: Person) -> None:
    """Delete a run that is not training, all at once, as `person` asks: it is renamed out of
    the listing first, so no reader ever sees half of it.

    Raises:
        NotAllowed: the run is another's and `person` is no teacher (recorded in the audit log).
        RunError: the run is queued or running (stop it first), or its folder cannot be removed.
    """
    check_may(person, run, "delete")
    end_overdue_stops(run.path.parent)
    shown = status(run)
    if shown.live:
        raise RunError(f"Run {run.id} is {shown.state}: stop it first, then delete it.")
    hidden = run.path.with_name(f".deleting-{run.id}-{time.time_ns()}")
    with os_errors_as(RunError, f"Could not delete run {run.id}", _WRITABLE):
        os.replace(run.path, hidden)
    shutil.rmtree(hidden, ignore_errors=True)
    record(run.path.parent, person, "delete", run.id)


def live_jobs(runs_dir: str | os.PathLike | None = None) -> list[Job]:
    """Runs that are training or queued, the training ones first, then in queue order: each
    backend's line in turn (each numbers its own)."""
    by_backend: dict[str, list[tuple[Run, RunStatus]]] = defaultdict(list)
    for run in list_runs(runs_dir):
        written = run.written_status()
        if written.live:
            by_backend[written.backend].append((run, written))
    found = []
    for written_runs in by_backend.values():
        backend = backend_of(written_runs[0][1])
        if backend is None:
            continue
        shown = [(run, backend.status(written)) for run, written in written_runs]
        found += backend.live_jobs([(run, now) for run, now in shown if now.live])
    return sorted(found, key=lambda job: job.state != "running")  # stable: each line keeps its order
