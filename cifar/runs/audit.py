"""The audit log: every launch, stop, delete, continue, sign-in, refusal and teacher's change,
one JSON line each in `<runs>/audit.jsonl`, appended and never rewritten.

A deleted log is noticed: the time the log was started is kept beside it, so the next line
written starts a new log with a line that says the old one went missing, and a reader says so
meanwhile. Reading never writes.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from cifar.errors import RunError, os_errors_as
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person
from cifar.runs.status import now_iso

_WRITABLE = "check that the runs folder is writable and the disk has room"


@dataclass(frozen=True)
class Entry:
    """One line of the audit log."""

    when: str  # ISO 8601, UTC
    who: str  # the name shown
    key: str  # the person's key in the class ("" alone or on the command line)
    role: str  # alone, student, teacher or administrator
    how: str  # how they said who they are
    action: str  # launch, stop, delete, continue, sign in, release a name, ...
    run: str | None = None  # the run it concerned, if any
    outcome: str = "done"  # done or refused
    detail: str = ""  # what was refused and why, or what changed, in words
    session: str = ""  # the browser session it came from


@contextmanager
def class_lock(runs: Path, name: str = "lock") -> Iterator[None]:
    """Hold one of the class's locks (an exclusive `flock` on `<runs>/.class/<name>`): `lock`
    while the class files change, `launch` while a student's launch is checked and made."""
    files = ClassFiles(runs)
    files.folder.mkdir(parents=True, exist_ok=True)
    with open(files.folder / name, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def record(
    runs: Path, person: Person, action: str, run: str | None = None, outcome: str = "done", detail: str = ""
) -> None:
    """Append one line to the audit log (starting it, or a new one where it was deleted).

    Raises:
        RunError: the log cannot be written (a read-only runs folder, a full disk).
    """
    entry = Entry(
        now_iso(), person.name, person.key, person.role, person.how, action, run, outcome, detail, person.session
    )
    files = ClassFiles(runs)
    with os_errors_as(RunError, f"Could not write the audit log {files.audit}", _WRITABLE), class_lock(runs):
        lines = []
        if not files.audit.exists():
            if files.audit_started.exists():
                started = files.audit_started.read_text(encoding="utf-8").strip()
                lines.append(_missing_line(started))
            files.audit_started.write_text(now_iso() + "\n", encoding="utf-8")
        lines.append(asdict(entry))
        _append(files.audit, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))


def _missing_line(started: str) -> dict:
    detail = f"The audit log started at {started} was missing (deleted?); this one starts here."
    return asdict(Entry(now_iso(), "", "", "administrator", "the app", "audit log restarted", detail=detail))


def _append(path: Path, text: str) -> None:
    # One write on a file opened for appending: lines from other processes never interleave.
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, text.encode("utf-8"))
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class AuditLog:
    """What the audit log holds, and what a reader should know of it."""

    entries: tuple[Entry, ...]
    notice: str | None = None  # a missing log, or lines that could not be read


def read_audit(runs: Path) -> AuditLog:
    """Every line of the audit log, oldest first; lines that cannot be read are counted, not shown.

    Raises:
        RunError: the log exists but cannot be read.
    """
    files = ClassFiles(runs)
    if not files.audit.exists():
        if files.audit_started.exists():
            return AuditLog((), "The audit log is missing (deleted?): the next action starts a new one and says so.")
        return AuditLog(())
    with os_errors_as(RunError, f"Could not read the audit log {files.audit}", "check that it can be read"):
        text = files.audit.read_text(encoding="utf-8", errors="replace")
    entries, bad = [], 0
    for line in text.splitlines():
        entry = _entry(line)
        if entry is None:
            bad += bool(line.strip())
        else:
            entries.append(entry)
    notice = (
        f"{bad} line{'s' if bad != 1 else ''} of the audit log could not be read and are left out." if bad else None
    )
    return AuditLog(tuple(entries), notice)


_FIELDS = set(Entry.__dataclass_fields__)


def _entry(line: str) -> Entry | None:
    try:
        values = json.loads(line)
    except ValueError:
        return None
    if not isinstance(values, dict) or not {"when", "who", "key", "role", "how", "action"} <= set(values):
        return None
    try:
        return Entry(**{key: value for key, value in values.items() if key in _FIELDS})
    except TypeError:
        return None
