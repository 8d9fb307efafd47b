"""The class board: for each person, their best run, what they changed, and where their
training stands (queued with its place and wait, or training with its progress, as
cifar/launch/waits.py works them out). The Class page shows what it builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from cifar.config.presets import nearest_preset
from cifar.config.settings import FIELDS
from cifar.errors import CifarError
from cifar.launch import launcher
from cifar.launch.waits import Place
from cifar.runs.run import Run

NO_NAME = "(no name)"
BOARD_COLUMNS = ("who", "best accuracy", "now", "progress", "preset", "changes", "runs", "best run")


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
        people.setdefault(run.written_status().who, []).append(run)
    rows = [person_row(who, theirs, live) for who, theirs in people.items()]
    return sorted(rows, key=lambda row: (row["best accuracy"] is None, -(row["best accuracy"] or 0), row["who"]))


def board_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(BOARD_COLUMNS))


def board_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The board as CSV, for a spreadsheet or a grade book."""
    return board_frame(rows).to_csv(index=False)
