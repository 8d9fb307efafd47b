"""Comparing runs, the classroom's hyperparameter exploration: one table row per run, the
config fields that differ between runs, and a run's history as CSV.

Nothing here imports Streamlit; the Runs page only places what this module builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from cifar.config.presets import PRESETS
from cifar.config.settings import FIELDS, ModelConfig
from cifar.errors import CifarError
from cifar.launch import launcher
from cifar.network.build import tested_on_words
from cifar.runs.run import Run
from cifar.study.attack import under_attack
from cifar.study.charts import Axis

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
# Table columns every run has, in order; the config fields that differ follow them.
BASE_COLUMNS = (
    "run",
    "state",
    "epochs done",
    "test accuracy",
    "best accuracy",
    "under attack",
    "minutes",
    "parameters",
)
# Columns shown only when some run has a value: who launched it, the preset it is, where it trained (runs
# made before the machine was recorded have none), the run it continues.
OPTIONAL_COLUMNS = ("tested on", "who", "preset", "machine", "continues")


def run_summary(run: Run) -> dict[str, Any]:
    """What a list of runs shows of one: id, name, state, epochs, accuracy, duration."""
    status = launcher.status(run)
    history = run.history()
    val = history.get("val_accuracy") or []
    return {
        "id": run.id,
        "name": status.name,
        "who": status.who,
        "state": status.state,
        "epoch": status.epoch,
        "epochs": status.epochs,
        "final_accuracy": val[-1] if val else None,
        "best_accuracy": max(val) if val else None,
        "seconds": sum(history.get("seconds") or []) or None,
        "created": status.created,
        "paused_seconds": None if status.paused_seconds is None else round(status.paused_seconds),
    }


def scored_on(run: Run) -> str:
    """What `run`'s epochs were tested on, in a few words (the test set when its config is unreadable)."""
    try:
        return tested_on_words(run.config())
    except CifarError:
        return "the test set"


def held_out(run: Run) -> bool:
    """Whether `run` was tested on training images it held out, not on the test set."""
    return scored_on(run) != "the test set"


def held_out_words(run: Run) -> str:
    """A table's "tested on" cell: the held-out images a run was tested on, in words; empty for
    the test set. A held-out accuracy is then never read as a test accuracy beside the others."""
    return scored_on(run) if held_out(run) else ""


def run_outcome(run: Run) -> str:
    """How an ended run ended, in one sentence: its test accuracy, or why it did not finish."""
    status = launcher.status(run)
    val = run.history().get("val_accuracy") or []
    done = len(val)
    scored = "held-out" if held_out(run) else "test"
    reached = (
        f"{val[-1]:.1%} {scored} accuracy after {done} epoch{'s' if done != 1 else ''}" if val else "no finished epoch"
    )
    if status.state == "finished":
        return f"Finished: {reached}."
    if status.state == "failed":
        return f"Failed: {status.error or 'the training process reported an error'} ({reached})."
    said = status.message or ""
    return f"{status.state.capitalize()}: {reached}. {said}".strip()


def run_row(run: Run) -> dict[str, Any]:
    """One run as a table row: what it is, how far it got, how well it did, its whole config.

    A run whose config cannot be read still gets a row (its config fields left empty), so one
    damaged folder never hides the others.
    """
    summary = run_summary(run)
    status = run.written_status()
    row: dict[str, Any] = {
        "run": run.id,
        "name": summary["name"],
        "state": summary["state"] if summary["paused_seconds"] is None else "paused",
        "epochs done": summary["epoch"],
        "test accuracy": summary["final_accuracy"],
        "best accuracy": summary["best_accuracy"],
        "tested on": "",
        "under attack": under_attack(run),
        "minutes": summary["seconds"] / 60 if summary["seconds"] else None,
        "parameters": (run.start_event() or {}).get("parameters"),
        "who": status.who,
        "continues": status.resumed_from or "",
        "machine": status.machine,
        "preset": "",
    }
    try:
        loaded = run.config()
        config = loaded.to_dict()
        row["preset"] = preset_of(loaded)
        row["tested on"] = tested_on_words(loaded) if loaded.holdout else ""  # the config read once
    except CifarError:
        config = {}
    for name, field in FIELDS.items():
        value = config.get(name)
        row[name] = None if value is None else field.show(value)
    if status.data and status.data.train_images and config:
        row["train_size"] = status.data.train_images  # what it trained on: "all" made concrete
    return row


def preset_of(config: ModelConfig) -> str:
    """The preset `config` is, whatever its seed; "" when it is none of them."""
    for name, candidate in PRESETS.items():
        if candidate.config.replace(seed=config.seed) == config:
            return name
    return ""


def differing_fields(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The config fields whose values are not the same in every row, in config order."""
    if len(rows) < 2:
        return []
    return [name for name in FIELDS if len({_hashable(row.get(name)) for row in rows}) > 1]


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def runs_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The runs table: the base columns; "tested on", "who", "preset", "machine" and "continues"
    when any run has one; then the config fields that differ between runs."""
    columns = list(BASE_COLUMNS)
    columns += [column for column in OPTIONAL_COLUMNS if any(row.get(column) for row in rows)]
    columns += differing_fields(rows)
    return pd.DataFrame(list(rows), columns=columns)


ACCURACY_AXIS = Axis("best accuracy", "accuracy", tickformat=".0%")
PARAMETERS_AXIS = Axis("parameters", "parameters", tickformat="~s")
PARAMETERS_RANK = 90  # after every setting but the seed


def parallel_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Candidate axes of a parallel-coordinates view: the settings that differ between runs,
    and parameters when they differ, most telling first (each field's `rank`)."""
    columns = differing_fields(rows)
    if len({row.get("parameters") for row in rows}) > 1:
        columns.append(PARAMETERS_AXIS.column)
    return sorted(columns, key=lambda name: FIELDS[name].rank if name in FIELDS else PARAMETERS_RANK)


def axis(column: str) -> Axis:
    """How a comparison shows `column`: a field's short title and scale, or the parameters."""
    if column not in FIELDS:
        return PARAMETERS_AXIS
    field = FIELDS[column]
    return Axis(column, field.axis, log=field.log_scale)


def history_csv(history: dict[str, list[float]]) -> str:
    """A run's per-epoch history as CSV, one row per epoch, for a spreadsheet."""
    length = len(history.get("epoch") or [])
    columns = {key: list(history.get(key) or [])[:length] for key in HISTORY_COLUMNS}
    columns = {key: values + [None] * (length - len(values)) for key, values in columns.items()}
    return pd.DataFrame(columns).to_csv(index=False)
