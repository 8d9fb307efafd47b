"""A run's status: one typed record, read leniently and written by `write_status` alone.

The launcher writes the first one (queued), and what its own actions change (a run its backend
could not start ends failed); the training process writes every later one (writer.py). A
status written by an older version of this app reads the same way: unknown keys are ignored
and missing ones take their defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cifar.atomic import read_json, write_json_atomic

LIVE_STATES = ("queued", "running")
ENDED_STATES = ("finished", "stopped", "failed", "interrupted")  # interrupted: said by readers, never written


@dataclass(frozen=True)
class DataInfo:
    """What a run trained and was tested on."""

    source: str = ""  # where the dataset came from, in words
    class_names: tuple[str, ...] = ()
    train_images: int = 0
    test_images: int = 0


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands. Times are ISO 8601 in UTC; `epoch` counts a continued run's parent's too."""

    state: str = "queued"  # queued, running, finished, stopped, failed; readers may say interrupted
    name: str = ""
    who: str = ""  # the person who launched it, by the name they go by ("" when not given)
    owner: str = ""  # their key in a class (cifar/runs/owner.py): who may stop, delete or continue it
    created: str | None = None
    created_unix: float = 0.0
    queue_key: int = 0  # launch order: among runs of the same turn, the oldest launch trains first
    queue_turn: int = 0  # whose turn: a person's second live launch waits behind everyone's first
    backend: str = "local"  # the name of what queues and starts the training (cifar/launch/backends.py)
    cluster: str | None = None  # for a cluster backend: the address it was submitted to
    job_id: str | None = None  # for a cluster backend: the job's id there
    host: str = ""  # the machine the training process runs on (its pid means something only there)
    epoch: int = 0  # finished epochs
    epochs: int | None = None  # the epoch the run ends at
    data_path: str | None = None  # the dataset asked for; None: CIFAR10_DIR, else Keras' download
    pid: int | None = None  # the training process, once it has started
    pid_start: int | None = None  # its start time in clock ticks, which tells a reused pid apart
    started: str | None = None
    ended: str | None = None
    message: str | None = None  # how it ended, in words
    error: str | None = None  # why it failed, in words
    data: DataInfo | None = None
    resumed_from: str | None = None  # the run it continues
    start_epoch: int = 0  # the parent's last epoch, where a continued run starts
    machine: str = ""  # where it trained, in a few words (cifar/network/devices.py)
    precision: str = ""  # the Keras dtype policy it trained in: float32, mixed_bfloat16 or mixed_float16
    notice: str | None = None  # what the training changed from what was asked, in words
    paused_since: str | None = None  # while its owner or a teacher has paused the training: since when
    paused_by: str = ""  # who paused it (a name), or "step" when it paused itself after one more epoch
    experiment: str = ""  # the class experiment it trains a cell of (cifar/classroom/experiments.py)
    cell: tuple[int, ...] = ()  # which cell: the index of each varied setting's value

    @property
    def paused_seconds(self) -> float | None:
        """How long the training has been paused, or None when it is not."""
        if not self.paused_since or not self.live:
            return None
        try:
            since = datetime.fromisoformat(self.paused_since)
        except ValueError:
            return None
        return max(0.0, (datetime.now(UTC) - since).total_seconds())

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def replace(self, **changes: Any) -> RunStatus:
        return dataclasses.replace(self, **changes)


_DEFAULTS = {field.name: field.default for field in dataclasses.fields(RunStatus)}
_DATA_FIELDS = {field.name for field in dataclasses.fields(DataInfo)}


def status_from_dict(values: Any) -> RunStatus:
    """A status from its JSON form; anything unreadable gives the default (queued) status."""
    if not isinstance(values, dict):
        return RunStatus()
    # A null where a value is always expected reads as the default (a count, not None).
    known = {
        key: value
        for key, value in values.items()
        if key in _DEFAULTS and (value is not None or _DEFAULTS[key] is None)
    }
    cell = known.get("cell")
    whole = isinstance(cell, list | tuple) and all(isinstance(i, int) and not isinstance(i, bool) for i in cell)
    known["cell"] = tuple(cell) if whole else ()
    data = known.get("data")
    if isinstance(data, dict):
        info = {key: value for key, value in data.items() if key in _DATA_FIELDS}
        info["class_names"] = tuple(info.get("class_names") or ())
        known["data"] = DataInfo(**info)
    elif data is not None:
        known["data"] = None
    return RunStatus(**known)


def read_status(path: Path) -> RunStatus:
    """The status in `path` as written (a missing or damaged file reads as queued)."""
    return status_from_dict(read_json(path))


def write_status(path: Path, status: RunStatus) -> None:
    """Write `status` whole, renamed into place, so that no reader sees half of it."""
    values = dataclasses.asdict(status)
    if status.data is not None:
        values["data"]["class_names"] = list(status.data.class_names)
    values["cell"] = list(status.cell)
    write_json_atomic(path, values)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
