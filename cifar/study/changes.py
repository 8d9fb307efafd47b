"""What was asked of a training while it ran, read back from its event log: every `control`
event (cifar/training/steering.py writes them) as a typed record, a table of them in words, and
the marks a chart draws where the course changed.

Pure functions over events already read: nothing here reads a file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pandas as pd

from cifar.runs.control import VALUE_ACTIONS, Request, rate_text

# The outcome of a request the training carried out; "refused", "ignored" and "ended" change no course.
DONE = "done"
# The actions a chart marks when done: each changes the course. Any other is no request at all.
_LABELLED = ("pause", "resume", "lr", "epochs", "stop_after_epoch", "step")
TABLE_COLUMNS = ("time", "epoch", "batch", "what", "by", "outcome", "detail")


@dataclass(frozen=True)
class Change:
    """One request a training answered, where and when it took effect."""

    when: float  # seconds since 1970 (UTC) when the training answered it
    epoch: int  # the epoch under way, counting from 1 (a continued run's parent's epochs too)
    batch: int  # batches done in that epoch when it took effect, 0 to `batches`
    batches: int  # batches in an epoch
    action: str  # pause, resume, lr, epochs, stop_after_epoch, step (cifar/runs/control.py)
    value: float | None  # lr: the new rate; epochs: the epoch the run ends at; else None
    who: str  # the name of who asked; "step" for the pause a step makes itself
    outcome: str  # done, refused, ignored (an unreadable request) or ended (paused too long)
    detail: str  # what the training did or why not, in words
    learning_rate: float | None  # the rate when it answered (after a done "lr", the new one)

    @property
    def position(self) -> float:
        """Where in the training, in epochs done: epoch 3, batch 50 of 100 is 2.5."""
        return self.epoch - 1 + self.batch / max(self.batches, 1)


class Mark(NamedTuple):
    """A place on a chart's epoch axis where the course changed."""

    x: float  # epochs done, as Change.position
    label: str  # a few words drawn beside the line: "lr 0.0001", "paused"
    note: str = ""  # what the pointer shows over the label: who asked and what the training said


def changes(events: Iterable[dict[str, Any]]) -> list[Change]:
    """The `control` events among `events`, in order, as Change records.

    An event without a whole epoch, batch and batch count (a log damaged by hand) is left out.

    Args:
        events: a run's events as `Run.events()` returns them, of every type.

    Returns:
        One Change per control event that says where it took effect.
    """
    found = []
    for event in events:
        if event.get("type") != "control":
            continue
        place = [event.get(key) for key in ("epoch", "batch", "batches")]
        if not all(_whole(number) for number in place):
            continue
        found.append(
            Change(
                when=_number(event.get("time")) or 0.0,
                epoch=place[0],
                batch=place[1],
                batches=place[2],
                action=str(event.get("action", "")),
                value=_number(event.get("value")),
                who=str(event.get("who", "")),
                outcome=str(event.get("outcome", "")),
                detail=str(event.get("detail", "")),
                learning_rate=_number(event.get("learning_rate")),
            )
        )
    return found


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def describe_change(change: Change) -> str:
    """What was asked, in words: 'pause', 'learning rate 0.0001', 'end at epoch 12'."""
    if change.action in VALUE_ACTIONS and change.value is None:
        return change.action
    if change.action == "pause" and change.who == "step":
        return "pause after the step's epoch"
    if change.action == "unreadable":
        return "a request it could not read"
    return Request(0, change.action, change.value).describe()


def _asker(change: Change) -> str:
    """Who asked: a name ("" for someone alone without one), or the training for what it did itself."""
    itself = change.who == "step" or change.outcome == "ended" or change.action == "unreadable"
    return "the training" if itself else change.who


def changes_table(found: Sequence[Change]) -> pd.DataFrame:
    """The changes as a table to show: one row each, oldest first, in words.

    Returns:
        Columns TABLE_COLUMNS: time (UTC, without its zone), epoch, batch ("50 of 100"), what was
        asked, by whom, the outcome and what the training said.
    """
    rows = [
        {
            "time": datetime.fromtimestamp(change.when, UTC).replace(tzinfo=None),
            "epoch": change.epoch,
            "batch": f"{change.batch:,} of {change.batches:,}",
            "what": describe_change(change),
            "by": _asker(change),
            "outcome": change.outcome,
            "detail": change.detail,
        }
        for change in found
    ]
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _label(change: Change) -> str:
    if change.action == "lr":
        return f"lr {rate_text(change.value)}"
    if change.action == "epochs":
        return f"ends at {int(change.value or 0)}"
    if change.action == "stop_after_epoch":
        return f"stops after {change.epoch}"
    return {"pause": "paused", "resume": "resumed", "step": "one more epoch"}.get(change.action, change.action)


def _alters_course(found: Sequence[Change]) -> list[Change]:
    """The done changes that changed something: a pause while paused, or a resume while
    training, is done yet changes nothing. A step or a stop after this epoch also resumes."""
    altering, paused = [], False
    for change in found:
        if change.outcome != DONE or change.action not in _LABELLED:
            continue
        if (change.action == "pause" and paused) or (change.action == "resume" and not paused):
            continue
        if change.action in VALUE_ACTIONS:
            if change.value is not None:
                altering.append(change)
            continue
        paused = change.action == "pause"
        altering.append(change)
    return altering


def marks(found: Sequence[Change]) -> list[Mark]:
    """Where a chart marks the changes that altered the course, one Mark per place.

    Changes at one place (a pause, a new rate and a resume all answered while paused) share a
    mark, their labels joined in order: "paused, lr 0.0001, resumed".

    Args:
        found: a run's changes, oldest first (as `changes` returns them).

    Returns:
        Marks in the order of their changes, at Change.position.
    """
    grouped: dict[float, list[Change]] = {}
    for change in _alters_course(found):
        grouped.setdefault(change.position, []).append(change)
    return [
        Mark(
            x,
            ", ".join(_label(change) for change in group),
            "<br>".join(f"{_asker(change)}: {change.detail}" if _asker(change) else change.detail for change in group),
        )
        for x, group in grouped.items()
    ]


def rate_now(found: Sequence[Change], launched: float) -> float:
    """The learning rate last asked for and set, else `launched` (the run's config's)."""
    rates = [change.value for change in found if change.action == "lr" and change.outcome == DONE and change.value]
    return rates[-1] if rates else launched
