"""The class board: for each person, their best run, what they changed, and where their
training stands (queued with its place and wait, or training with its progress, as
cifar/launch/waits.py works them out). The Class page shows what it builds.

A teacher may start the board afresh: the runs on it until then are kept under a name the
teacher gives (`<runs>/.class/board.json`), and the board shows the runs launched since. No
run folder moves: trainings and cluster jobs hold their paths.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cifar.atomic import read_json, write_json_atomic
from cifar.config.presets import nearest_preset
from cifar.config.settings import FIELDS
from cifar.errors import CifarError, ConfigError, NotAllowed, RunError, os_errors_as
from cifar.launch import launcher
from cifar.launch.waits import Place
from cifar.runs.audit import class_lock, record
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person, clean_who
from cifar.runs.run import Run
from cifar.study.attack import under_attack
from cifar.study.compare import held_out_words

NO_NAME = "(no name)"
BOARD_COLUMNS = (
    "who",
    "best accuracy",
    "tested on",
    "under attack",
    "now",
    "progress",
    "preset",
    "changes",
    "runs",
    "best run",
)


def _best(run: Run) -> float | None:
    values = run.history().get("val_accuracy") or []
    return max(values) if values else None


def person_row(who: str, runs: Sequence[Run], live: dict[str, Place]) -> dict[str, Any]:
    """One person's line of the board; `runs` are theirs, newest first."""
    scored = [(accuracy, run) for run in runs if (accuracy := _best(run)) is not None]
    accuracy, best = max(scored, key=lambda pair: pair[0]) if scored else (None, None)
    theirs = sorted((live[run.id] for run in runs if run.id in live), key=lambda place: (place.position, place.run_id))
    if theirs:
        now = theirs[0].describe() + (f" (+{len(theirs) - 1} more queued)" if len(theirs) > 1 else "")
    else:
        now = launcher.status(runs[0]).state if runs else ""
    row = {
        "who": who or NO_NAME,
        "runs": len(runs),
        "best accuracy": accuracy,
        "tested on": "" if best is None else held_out_words(best),
        "under attack": None if best is None else under_attack(best),
        "now": now,
        "progress": theirs[0].fraction if theirs and theirs[0].state == "running" else None,
        "best run": best.id if best else "",
        "preset": "",
        "changes": "",
    }
    if best is not None:
        row.update(_changes(best))
    return row


def _changes(run: Run) -> dict[str, str]:
    try:
        config = run.config()
    except CifarError:
        return {}
    name, changed = nearest_preset(config)
    shown = ", ".join(f"{FIELDS[field].axis} {FIELDS[field].show(getattr(config, field))}" for field in changed)
    return {"preset": name, "changes": shown or "none"}


def board_rows(runs: Sequence[Run], live: dict[str, Place]) -> list[dict[str, Any]]:
    """The board: one row per person, the best accuracy first; people with none last."""
    people: dict[str, list[Run]] = {}
    for run in runs:
        written = run.written_status()
        people.setdefault(written.owner or written.who, []).append(run)  # in a class, by who signed in
    rows = [person_row(theirs[0].written_status().who, theirs, live) for theirs in people.values()]
    return sorted(rows, key=lambda row: (row["best accuracy"] is None, -(row["best accuracy"] or 0), row["who"]))


def board_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(BOARD_COLUMNS))


def board_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The board as CSV, for a spreadsheet or a grade book."""
    return board_frame(rows).to_csv(index=False)


@dataclass(frozen=True)
class EarlierBoard:
    """A board the teacher started afresh from: its name and the launches it held."""

    name: str
    since: float  # Unix time of its first launch's earliest possible moment
    until: float  # when it was set aside


def board_start(runs: Path) -> tuple[float, list[EarlierBoard]]:
    """Since when the board shows launches (Unix time; 0: all of them), and the earlier boards, newest first."""
    kept = read_json(ClassFiles(runs).board)
    if not isinstance(kept, dict):
        return 0.0, []
    items = kept.get("earlier")
    earlier = [board for board in map(_earlier_board, items if isinstance(items, list) else []) if board]
    since = kept.get("since", 0.0)
    return (float(since) if isinstance(since, int | float) else 0.0), earlier


def _earlier_board(item: Any) -> EarlierBoard | None:
    if not isinstance(item, dict):
        return None
    try:
        return EarlierBoard(str(item.get("name", "")), float(item.get("since", 0)), float(item.get("until", 0)))
    except (TypeError, ValueError):
        return None


def on_board(runs: Sequence[Run], since: float) -> list[Run]:
    """The runs launched since the board was last started afresh."""
    return [run for run in runs if run.written_status().created_unix >= since]


def boards_of(runs: Sequence[Run], since: float, earlier: Sequence[EarlierBoard]) -> dict[str, str]:
    """Which board each run was on, by run id: an earlier board's name, or "" for the board now."""
    found = {}
    for run in runs:
        created = run.written_status().created_unix
        name = next((board.name for board in earlier if board.since <= created < board.until), "")
        found[run.id] = "" if created >= since else name
    return found


def start_afresh(person: Person, name: str, runs: Path) -> None:
    """Set the board's runs aside under `name` and start an empty board (the teacher's key);
    nothing is moved or deleted.

    Args:
        person: who asks: a teacher, or the server's command line.
        name: what the board set aside is called (a lesson's name).
        runs: the runs folder.

    Raises:
        NotAllowed: `person` is not a teacher.
        ConfigError: `name` is empty or not plain text.
        RunError: the runs folder cannot be written.
    """
    if person.role not in ("teacher", "administrator"):
        record(runs, person, "start the board afresh", outcome="refused", detail="only a teacher may")
        raise NotAllowed("Only a teacher may start the board afresh.")
    label = clean_who(name)
    if not label:
        raise ConfigError("name the board you set aside (a lesson's name, say), so the class can find its runs.")
    now = time.time()
    writable = "check that the runs folder is writable"
    with os_errors_as(RunError, "Could not start the board afresh", writable), class_lock(runs):
        since, earlier = board_start(runs)
        boards = [EarlierBoard(label, since, now), *earlier]
        write_json_atomic(
            ClassFiles(runs).board,
            {"since": now, "earlier": [{"name": b.name, "since": b.since, "until": b.until} for b in boards]},
        )
    record(runs, person, "start the board afresh", detail=f"the board until now is kept as {label}")
