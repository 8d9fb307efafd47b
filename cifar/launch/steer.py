"""Steering a training while it runs: pause, resume, a new learning rate, more or fewer
epochs, stop after this epoch, one more epoch then pause.

A request is checked here (who may, that the run is training, the value, the class's limits)
and added to the run's control file (cifar/runs/control.py); the trainer carries it out between
batches, wherever it runs, and says in the run's event log what it did (a `control` event with
the request's id). Every request and refusal is a line in the audit log.
"""

from __future__ import annotations

import math
import time
from typing import Any

from cifar.config.settings import FIELDS, MAX_EPOCHS
from cifar.errors import ConfigError, NotAllowed, RunError
from cifar.launch.launcher import check_may, status
from cifar.launch.rules import read_rules
from cifar.runs.audit import record
from cifar.runs.control import ACTIONS, Request, add_request
from cifar.runs.owner import Person
from cifar.runs.run import Run
from cifar.runs.status import RunStatus

POLL_SECONDS = 0.2


def steer(run: Run, action: str, value: float | None = None, *, person: Person) -> Request:
    """Ask `run`'s training to do `action` (one of cifar.runs.control.ACTIONS), as `person` asks.

    Args:
        value: for "lr", the new learning rate; for "epochs", the epoch the run is to end at.

    Returns:
        The request as written; the trainer answers it with a `control` event of the same id.

    Raises:
        NotAllowed: the run is another's and `person` is no teacher, or a student asks past the
            class's most epochs (both recorded in the audit log).
        RunError: the run is not training (queued, or ended), or the request cannot be written.
        ConfigError: the value is missing or out of range.
    """
    if action not in ACTIONS:
        raise ConfigError(f"{action!r} is not something a training can be asked; one of {', '.join(ACTIONS)}.")
    check_may(person, run, "steer")
    shown = status(run)
    _check_training(run, shown)
    value = _checked_value(run, shown, action, value)
    _check_class_epochs(run, shown, action, value, person)
    _check_experiment(run, shown, action, person)
    request = add_request(run.path, action, value, person.name)
    record(run.path.parent, person, "steer", run.id, detail=request.describe())
    return request


def _check_training(run: Run, shown: RunStatus) -> None:
    if shown.state == "running":
        return
    if shown.state == "queued":
        raise RunError(f"Run {run.id} is queued: it can be steered once it trains (or stop it now).")
    more = " Continue it to train it further." if shown.state in ("finished", "stopped") else ""
    raise RunError(f"Run {run.id} is {shown.state}: only a training that is running can be steered.{more}")


def _current_epoch(run: Run, shown: RunStatus) -> int:
    """The epoch under way, or the last finished one before the first batch event."""
    progress = run.progress()
    return max(progress.epoch if progress else 0, shown.epoch, 1)


def _checked_value(run: Run, shown: RunStatus, action: str, value: Any) -> float | None:
    if action == "lr":
        field = FIELDS["learning_rate"]
        number = _finite(value)
        try:
            field.check(float(value) if number else value)
        except ConfigError:
            number = False
        if not number:
            raise ConfigError(f"a learning rate must be {field.allowed()} (the tutorial uses 0.001); got {value!r}")
        return float(value)
    if action == "epochs":
        if not _finite(value) or value != int(value):
            raise ConfigError(f"epochs must be a whole number; got {value!r}")
        epoch = _current_epoch(run, shown)
        if not epoch <= value <= MAX_EPOCHS:
            raise ConfigError(
                f"Run {run.id} is at epoch {epoch}: it can end at epoch {epoch} at the earliest and "
                f"{MAX_EPOCHS} at the latest; got {int(value)}."
            )
        return int(value)
    return None


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_class_epochs(run: Run, shown: RunStatus, action: str, value: float | None, person: Person) -> None:
    """A student's --epochs and --step stay within the class's most epochs a run."""
    if person.role != "student" or action not in ("epochs", "step"):
        return
    most = read_rules(run.path.parent).max_epochs
    reaches = int(value) if action == "epochs" else _epoch_a_step_ends(run, shown)
    if reaches > most:
        refusal = f"The class allows at most {most} epochs a run; this would train to epoch {reaches}."
        record(run.path.parent, person, "steer", run.id, "refused", refusal)
        raise NotAllowed(refusal)


def _check_experiment(run: Run, shown: RunStatus, action: str, person: Person) -> None:
    """A student's run of a class experiment keeps its rate and epochs, so that its cell compares."""
    if person.role != "student" or not shown.experiment or action not in ("lr", "epochs"):
        return
    refusal = (
        f"Run {run.id} trains a cell of the class experiment {shown.experiment}, whose settings are fixed so that "
        "the cells compare: its rate and epochs stay as they are. Pause, resume, step and stop still work."
    )
    record(run.path.parent, person, "steer", run.id, "refused", refusal)
    raise NotAllowed(refusal)


def _epoch_a_step_ends(run: Run, shown: RunStatus) -> int:
    """The epoch a step trains to: the one under way, or the next when one has just finished."""
    progress = run.progress()
    if progress is None:
        return shown.epoch + 1
    return progress.epoch + (progress.batch >= progress.batches)


def answer(run: Run, request: Request, seconds: float) -> dict[str, Any] | None:
    """The trainer's `control` event for `request`, waiting up to `seconds` for it; None when the
    training has not answered by then (it validates between epochs, when no batch ends)."""
    deadline = time.monotonic() + seconds
    offset = 0
    while True:
        events, offset = run.events(offset)
        for event in events:
            if event.get("type") == "control" and event.get("id") == request.id:
                return event
        if time.monotonic() >= deadline or not status(run).live:
            return None
        time.sleep(POLL_SECONDS)
