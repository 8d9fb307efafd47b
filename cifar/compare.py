"""Comparing runs, the classroom's hyperparameter exploration: one table row per run, the
config fields that differ between runs, and a run's history as CSV.

Nothing here imports Streamlit; the Runs page only places what this module builds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pandas as pd

from cifar.model import ModelConfig
from cifar.runs import Run, RunError

CONFIG_FIELDS = tuple(field.name for field in dataclasses.fields(ModelConfig))
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")
# Table columns every run has, in order; the config fields that differ follow them.
BASE_COLUMNS = ("run", "state", "epochs done", "test accuracy", "best accuracy", "minutes", "parameters")


def run_row(run: Run) -> dict[str, Any]:
    """One run as a table row: what it is, how far it got, how well it did, its whole config.

    A run whose config cannot be read still gets a row (its config fields left empty), so one
    damaged folder never hides the others.
    """
    summary = run.summary()
    status = run.raw_status()
    start = run.start_event() or {}
    row: dict[str, Any] = {
        "run": run.id,
        "name": summary["name"],
        "state": summary["state"],
        "epochs done": summary["epoch"],
        "test accuracy": summary["final_accuracy"],
        "best accuracy": summary["best_accuracy"],
        "minutes": summary["seconds"] / 60 if summary["seconds"] else None,
        "parameters": start.get("parameters"),
        "continues": status.get("resumed_from") or "",
    }
    try:
        config = run.config().to_dict()
    except (RunError, ValueError, OSError):
        config = {}
    for name in CONFIG_FIELDS:
        row[name] = config_value(name, config.get(name))
    train_images = (status.get("data") or {}).get("train_images")
    if train_images and config:
        row["train_size"] = train_images  # what it trained on: "all" made concrete
    return row


def config_value(name: str, value: Any) -> Any:
    """A config value as a table shows it: filters as text ("32, 64"), the rest as they are."""
    if name == "filters" and isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return value


def differing_fields(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The config fields whose values are not the same in every row, in config order."""
    if len(rows) < 2:
        return []
    return [name for name in CONFIG_FIELDS if len({_hashable(row.get(name)) for row in rows}) > 1]


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def runs_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The runs table: the base columns, "continues" when any run continues another, then
    the config fields that differ between runs."""
    columns = list(BASE_COLUMNS)
    if any(row.get("continues") for row in rows):
        columns.append("continues")
    columns += differing_fields(rows)
    return pd.DataFrame(list(rows), columns=columns)


# The settings a class most often splits between them come first, so a few axes say most.
AXIS_PRIORITY = (
    "learning_rate",
    "lr_schedule",
    "batch_size",
    "dropout",
    "filters",
    "conv_blocks",
    "dense_units",
    "batch_norm",
    "augment",
    "epochs",
    "train_size",
    "optimizer",
    "convs_per_block",
    "kernel_size",
    "dense_dropout",
    "parameters",
    "seed",
)


def parallel_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Candidate axes of a parallel-coordinates view: the settings that differ between runs,
    and parameters when they differ, most telling first."""
    differing = set(differing_fields(rows))
    if len({row.get("parameters") for row in rows}) > 1:
        differing.add("parameters")
    return [name for name in AXIS_PRIORITY if name in differing]


def history_csv(history: dict[str, list[float]]) -> str:
    """A run's per-epoch history as CSV, one row per epoch, for a spreadsheet."""
    length = len(history.get("epoch") or [])
    columns = {key: list(history.get(key) or [])[:length] for key in HISTORY_COLUMNS}
    columns = {key: values + [None] * (length - len(values)) for key, values in columns.items()}
    return pd.DataFrame(columns).to_csv(index=False)
