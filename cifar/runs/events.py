"""A run's event log (events.jsonl): one JSON object a line, appended while it trains.

The trainer appends with `EventLog`; readers read whole lines only. A last line without its
newline is still being written and is left for the next read, so no reader sees half an event.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cifar.errors import RunError, os_reason

FIRST_LINE_LIMIT = 65_536  # the start event is one short line; never read a damaged file whole
TAIL_BYTES = 16_384  # enough for the last few events of any kind


class EventLog:
    """The trainer's appending side of the log."""

    def __init__(self, path: Path) -> None:
        self._handle = open(path, "ab")  # noqa: SIM115 (open for the whole run)

    def append(self, kind: str, **fields: Any) -> None:
        record = {"type": kind, "time": round(time.time(), 3), **fields}
        # One write per line, flushed: a reader sees whole lines, or a torn last one it skips.
        self._handle.write((json.dumps(record, allow_nan=False) + "\n").encode())
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_events(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events appended since byte `offset`, and the offset to pass next time."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return [], offset
    except OSError as error:
        raise _unreadable(path, error) from error
    complete = chunk[: chunk.rfind(b"\n") + 1]
    events = []
    for line in complete.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line damaged by a crash mid-write; the rest still count
        if isinstance(event, dict):
            events.append(event)
    return events, offset + len(complete)


def first_event(path: Path, kind: str) -> dict[str, Any] | None:
    """The log's first line when it is a whole event of `kind`, else None."""
    try:
        with open(path, "rb") as handle:
            line = handle.readline(FIRST_LINE_LIMIT)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _unreadable(path, error) from error
    try:
        event = json.loads(line) if line.endswith(b"\n") else None
    except ValueError:
        return None
    return event if isinstance(event, dict) and event.get("type") == kind else None


def last_event(path: Path, kind: str) -> dict[str, Any] | None:
    """The newest event of `kind`, read from the end of the log only (a long run's log is large)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _unreadable(path, error) from error
    events, _ = read_events(path, max(0, size - TAIL_BYTES))  # a first line cut in half is skipped
    found = [event for event in events if event.get("type") == kind]
    return found[-1] if found else None


def _unreadable(path: Path, error: OSError) -> RunError:
    return RunError(
        f"Could not read the event log {path} ({os_reason(error)}): check that the runs folder can be read."
    )
