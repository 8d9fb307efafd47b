"""A run's control file (control.json): what its owner or a teacher asks of a training while
it runs, read by the trainer between batches.

    {"requests": [{"id": 1, "action": "pause", "who": "Emma", "when": "2026-12-07T10:00:00.000+00:00"},
                  {"id": 2, "action": "lr", "value": 0.0001, "who": "Emma", "when": "..."}]}

The launcher alone writes it (cifar/launch/steer.py): whole files renamed into place, under a
lock on `control.lock` so that two requests made at once both land. The trainer carries out
each request once, in the order of their ids, and says in the event log what it did
(cifar/training/steering.py). A file damaged or written by hand is read as far as it makes
sense; what does not is reported, never carried out.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cifar.atomic import write_json_atomic
from cifar.errors import RunError, os_errors_as
from cifar.runs.layout import RunFiles
from cifar.runs.status import now_iso

# What a request may ask, and what its value must be: lr a rate, epochs a whole number.
ACTIONS = ("pause", "resume", "lr", "epochs", "stop_after_epoch", "step")
VALUE_ACTIONS = ("lr", "epochs")
DEFAULT_PAUSE_MINUTES = 10.0
KEPT_REQUESTS = 200  # older ones have been carried out long since; ids keep counting
MAX_FILE_BYTES = 1_000_000  # a control file is a few kB; anything far larger is not ours
_WRITABLE = "check that the runs folder is writable and the disk has room"


def pause_limit_seconds() -> float:
    """How long a training may stay paused before it stops, keeping its finished epochs:
    CIFAR_PAUSE_MINUTES (default 10), in seconds."""
    try:
        minutes = float(os.environ.get("CIFAR_PAUSE_MINUTES", DEFAULT_PAUSE_MINUTES))
    except ValueError:
        minutes = DEFAULT_PAUSE_MINUTES
    return max(minutes, 0.0) * 60 if math.isfinite(minutes) else DEFAULT_PAUSE_MINUTES * 60


@dataclass(frozen=True)
class Request:
    """One thing asked of a running training."""

    id: int  # counts up in each run: microseconds since 1970 when asked, above the one before
    action: str  # one of ACTIONS
    value: float | None = None  # lr: the new rate; epochs: the epoch the run ends at
    who: str = ""  # the name of who asked
    when: str = ""  # ISO 8601, UTC

    def describe(self) -> str:
        """'pause', 'learning rate 0.0001', 'end at epoch 12', ... in words."""
        if self.action == "lr":
            return f"learning rate {rate_text(self.value or 0)}"
        if self.action == "epochs":
            return f"end at epoch {int(self.value or 0)}"
        return {"stop_after_epoch": "stop after this epoch", "step": "train one more epoch, then pause"}.get(
            self.action, self.action
        )


def rate_text(rate: float) -> str:
    """A learning rate as a student reads it: 0.00005, not 5e-05; three significant digits."""
    text = f"{float(f'{rate:.3g}'):.12f}".rstrip("0").rstrip(".")
    return text or "0"


def request_problem(raw: Any, after: int) -> str | None:
    """Why `raw` (one entry of the file) is not a request this app carries out, or None when it is.
    `after` is the id of the request before it: ids must count up."""
    if not isinstance(raw, dict):
        return "it is not a request"
    ident = raw.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int) or ident <= after:
        return f"its id {ident!r} is not a whole number above {after}"
    action = raw.get("action")
    if action not in ACTIONS:
        return f"{str(action)[:40]!r} is not something a training can be asked ({', '.join(ACTIONS)})"
    value = raw.get("value")
    if action in VALUE_ACTIONS:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"{action} needs a number; got {str(value)[:40]!r}"
        if action == "epochs" and value != int(value):
            return f"epochs needs a whole number; got {value!r}"
    return None


def read_requests(path: Path) -> tuple[list[Request], list[str]]:
    """The requests in the control file, in order, and what in it could not be read, in words.

    A missing file holds no requests. A request that makes no sense (an unknown action, a rate
    that is not a number, an id that does not count up) is left out and said; so is a file that
    is not JSON, which then holds none.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return [], []
    except OSError as error:
        return [], [f"the control file could not be read ({error.strerror or error})"]
    if len(data) > MAX_FILE_BYTES:
        return [], [f"the control file is over {MAX_FILE_BYTES:,} bytes, so it is not one this app wrote"]
    try:
        raw = json.loads(data)
    except ValueError as error:
        return [], [f"the control file is not JSON ({error})"]
    entries = raw.get("requests") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        return [], ["the control file holds no list of requests"]
    found: list[Request] = []
    problems = []
    for entry in entries:
        problem = request_problem(entry, found[-1].id if found else 0)
        if problem:
            problems.append(f"a request was ignored: {problem}")
            continue
        value = entry.get("value")
        found.append(
            Request(
                id=entry["id"],
                action=entry["action"],
                value=float(value) if entry["action"] in VALUE_ACTIONS else None,
                who=str(entry.get("who", ""))[:80],
                when=str(entry.get("when", ""))[:40],
            )
        )
    return found, problems


def add_request(run_dir: Path, action: str, value: float | None, who: str) -> Request:
    """Append a request to the run's control file; checked by the caller (cifar/launch/steer.py).

    Raises:
        RunError: the file cannot be written.
    """
    files = RunFiles(run_dir)
    with os_errors_as(RunError, f"Could not ask run {run_dir.name}", _WRITABLE), open(files.control_lock, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        requests, _ = read_requests(files.control)
        # From the clock, so that a file overwritten by hand cannot set the count back below
        # what the trainer has already carried out.
        ident = max(requests[-1].id + 1 if requests else 1, time.time_ns() // 1000)
        request = Request(id=ident, action=action, value=value, who=who, when=now_iso())
        kept = [*requests, request][-KEPT_REQUESTS:]
        write_json_atomic(files.control, {"requests": [_as_json(each) for each in kept]})
    return request


def _as_json(request: Request) -> dict[str, Any]:
    values = asdict(request)
    if request.action not in VALUE_ACTIONS:
        del values["value"]
    elif request.action == "epochs":
        values["value"] = int(request.value or 0)
    return values
