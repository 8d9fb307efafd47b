"""Where a training stands, in one typed record that the trainer writes as its batch events and
every page and the command line read back; and the one function that words it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from cifar.runs.status import RunStatus


@dataclass(frozen=True)
class Progress:
    """A training's latest batch: where it is, how it goes, how long it has left."""

    epoch: int  # the epoch under way, counting a continued run's parent's epochs too
    epochs: int  # the epoch the run ends at
    batch: int  # batches done in this epoch
    batches: int  # batches in an epoch
    loss: float = 0.0  # the epoch's mean training loss so far
    accuracy: float = 0.0  # the epoch's training accuracy so far
    images_per_second: float = 0.0  # in this epoch so far
    eta_seconds: float = 0.0  # until the run ends: the batches and validations still to come
    start_epoch: int = 0  # where a continued run began: its own share of the work starts there
    paused_seconds: float | None = None  # how long it has been paused (from its status, not its events)

    @property
    def fraction(self) -> float:
        """The share of this run's own epochs done, 0 to 1: a continued run's bar starts at 0."""
        done = self.epoch - 1 - self.start_epoch + self.batch / max(self.batches, 1)
        return min(max(done / max(self.epochs - self.start_epoch, 1), 0.0), 1.0)

    def event_fields(self) -> dict[str, Any]:
        """The fields of the batch event that records it."""
        fields = dataclasses.asdict(self)
        del fields["paused_seconds"]
        return fields

    @classmethod
    def from_event(cls, event: dict[str, Any], status: RunStatus) -> Progress | None:
        """The progress a batch event records; None for one without its epoch and batch (a log
        damaged by hand, or another program's). A value of the wrong kind is left out and takes
        its default; an event written by an earlier version lacks `epochs` and `start_epoch`,
        and the run's status gives them."""
        values = {
            field.name: event[field.name]
            for field in dataclasses.fields(cls)
            if field.name != "paused_seconds" and _is_number(event.get(field.name), whole=field.type == "int")
        }
        values["paused_seconds"] = status.paused_seconds
        if not all(key in values for key in ("epoch", "batch", "batches")):
            return None
        if status.epochs:  # the end its owner may have moved since this batch (cifar/launch/steer.py)
            values["epochs"] = status.epochs
        values.setdefault("epochs", 1)
        values.setdefault("start_epoch", status.start_epoch)
        return cls(**values)


def _is_number(value: Any, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) if whole else math.isfinite(value)


def describe_progress(progress: Progress, detail: bool = False) -> str:
    """'epoch 2 of 5, about 1 min left'; with `detail`, the batch and the speed too:
    'epoch 2 of 5, batch 1,200 of 5,000: 310 images/s, about 1 min left'. A paused training:
    'epoch 2 of 5, paused for 3 min'."""
    where = f"epoch {progress.epoch} of {progress.epochs}"
    if progress.paused_seconds is not None:
        batch = f", batch {progress.batch:,} of {progress.batches:,}" if detail else ""
        return f"{where}{batch}, paused for {describe_pause(progress.paused_seconds)}"
    if detail:
        where += f", batch {progress.batch:,} of {progress.batches:,}: {progress.images_per_second:,.0f} images/s"
    return f"{where}, {describe_duration(progress.eta_seconds)} left"


def describe_pause(seconds: float) -> str:
    """'12 s', '3 min': how long a training has been paused, to the second at first."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def epochs_kept(count: int) -> str:
    """'the run keeps 1 finished epoch', 'the run keeps 3 finished epochs'."""
    return f"the run keeps {count} finished epoch{'s' if count != 1 else ''}"


def describe_duration(seconds: float) -> str:
    """'about 45 s', 'about 12 min', 'about 2.5 h'."""
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"
