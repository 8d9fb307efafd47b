"""The queue of trainings on one machine: who may train now, who waits, and in what order.

- A slot is an exclusive `flock` on `<runs>/.slots/slot-K.lock`, held for the life of the
  training process; the kernel releases it when the process ends, even by SIGKILL. There are
  `CIFAR_MAX_TRAININGS` slots (default 1).
- `<runs>/.queue/` holds an empty entry per waiting run, `<turn>-<queue key>-<run id>`, so that
  entries sort in the order runs train. The launcher puts it there (`enqueue`) before the
  training process starts; the training process takes it out (`leave`) once it trains or gives
  up. Only the first entry whose run still waits may take a free slot; one whose process died
  is cleared.
- The queue is fair between people, round-robin by whose run it is (`RunStatus.owner` in a
  class, else the name it was launched under; runs without either count as one person). A run's turn is fixed at launch:
  0 when its person has nothing else queued or training, else one more than their latest live
  run's. Lower turns train first, and within a turn the oldest launch: a student's second
  launch waits behind every other student's first, while one person's runs keep their order.

A teacher may pause the queue (`<runs>/.class/paused`): then no waiting run takes a slot, and
a cluster's training waits before it starts; trainings already going on are not touched.

The training process waits here before it imports TensorFlow, so a queued run costs little
memory, and queued runs start in order whether or not any page is open.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TypeVar

from cifar.runs.layout import ClassFiles, RunFiles
from cifar.runs.liveness import training_alive
from cifar.runs.status import RunStatus, read_status

DEFAULT_MAX_TRAININGS = 1  # a 2-core machine trains one model at a time at full speed
POLL_SECONDS = 0.5
QUEUE_FOLDER, SLOTS_FOLDER = ".queue", ".slots"
Item = TypeVar("Item")


def max_trainings() -> int:
    """How many trainings may run at once: `CIFAR_MAX_TRAININGS`, default 1."""
    try:
        return max(1, int(os.environ.get("CIFAR_MAX_TRAININGS", DEFAULT_MAX_TRAININGS)))
    except ValueError:
        return DEFAULT_MAX_TRAININGS


def _entry(run_dir: Path, status: RunStatus) -> Path:
    return run_dir.parent / QUEUE_FOLDER / f"{status.queue_turn:04d}-{status.queue_key:020d}-{run_dir.name}"


def paused(runs_dir: Path) -> bool:
    """Whether the teacher has paused the queue: waiting runs wait on, running ones go on."""
    return ClassFiles(runs_dir).paused.exists()


def whose(status: RunStatus) -> str:
    """Whose turn a run counts in: its owner in a class, else the name it was launched under."""
    return status.owner or status.who


def next_turn(runs_dir: Path, person: str) -> int:
    """The turn of a run that `person` (a `whose` value) launches now in `runs_dir`: 0 when
    nothing of theirs is queued or training there, else one more than the latest turn among those runs."""
    turns = [
        status.queue_turn
        for status in (read_status(RunFiles(path).status) for path in _run_dirs(runs_dir))
        if whose(status) == person and status.live and training_alive(status)
    ]
    return max(turns) + 1 if turns else 0


def _run_dirs(runs_dir: Path) -> list[Path]:
    try:
        return [entry for entry in runs_dir.iterdir() if not entry.name.startswith(".") and entry.is_dir()]
    except OSError:  # no runs folder yet
        return []


def enqueue(run_dir: Path) -> None:
    """Put the prepared run in line at its turn; the launcher calls this."""
    entry = _entry(run_dir, read_status(RunFiles(run_dir).status))
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.touch()


def leave(run_dir: Path, status: RunStatus) -> None:
    """Take the run out of the line; its training process calls this once it trains or gives up."""
    _entry(run_dir, status).unlink(missing_ok=True)


def wait_for_turn(run_dir: Path, status: RunStatus, should_stop: Callable[[], bool]) -> IO | None:
    """Block until the run may train; return its slot (keep it open while training), or None
    when `should_stop()` said so first."""
    entry = _entry(run_dir, status)
    while not should_stop():
        if not paused(run_dir.parent) and _first_in_line(entry):
            slot = _take_slot(run_dir.parent / SLOTS_FOLDER, max_trainings())
            if slot is not None:
                return slot
        time.sleep(POLL_SECONDS)
    return None


def wait_while_paused(runs_dir: Path, should_stop: Callable[[], bool]) -> None:
    """Block while the teacher has paused the queue (for a training a cluster started)."""
    while paused(runs_dir) and not should_stop():
        time.sleep(POLL_SECONDS)


def _first_in_line(entry: Path) -> bool:
    queue_dir = entry.parent
    for name in sorted(os.listdir(queue_dir)) if queue_dir.is_dir() else []:
        if name == entry.name:
            return True
        if _still_waiting(queue_dir.parent / name.split("-", 2)[-1]):
            return False
        (queue_dir / name).unlink(missing_ok=True)  # its process died waiting, or it trains already
    return True  # no entry of its own: nobody that still waits is ahead of it


def _still_waiting(run_dir: Path) -> bool:
    status = read_status(RunFiles(run_dir).status)
    return status.state == "queued" and training_alive(status)


def _take_slot(slots_dir: Path, count: int) -> IO | None:
    slots_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        handle = open(slots_dir / f"slot-{index}.lock", "a")  # noqa: SIM115 (held open while training)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            handle.close()
    return None


def in_line_order(waiting: Sequence[tuple[Item, RunStatus]]) -> list[Item]:
    """Waiting runs in the order they will train: the order `wait_for_turn` lets them go."""
    return [item for item, status in sorted(waiting, key=lambda pair: (pair[1].queue_turn, pair[1].queue_key))]
