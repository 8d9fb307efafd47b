"""Comparing runs: table rows, the fields that differ, history CSV, and their figures."""

from __future__ import annotations

import io
import os
import shutil
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from test_charts import HISTORY

from cifar.runs.run import open_run
from cifar.runs.status import write_status
from cifar.study import kept
from cifar.study.attack import ROBUSTNESS_IMAGES
from cifar.study.charts import history_figure, overlay_figure, parallel_figure
from cifar.study.compare import (
    ACCURACY_AXIS,
    axis,
    differing_fields,
    history_csv,
    parallel_columns,
    run_row,
    run_summary,
    runs_frame,
)

ROWS = [
    {"run": "a", "best accuracy": 0.5, "parameters": 1000, "learning_rate": 0.001, "filters": "32", "augment": False,
     "seed": 0, "batch_size": 10},
    {"run": "b", "best accuracy": 0.6, "parameters": 2000, "learning_rate": 0.01, "filters": "32, 64", "augment": True,
     "seed": 1, "batch_size": 10},
    {"run": "c", "best accuracy": 0.4, "parameters": 1000, "learning_rate": 0.001, "filters": "8", "augment": False,
     "seed": 0, "batch_size": 10},
]  # fmt: skip


def test_differing_fields_in_config_order():
    assert differing_fields(ROWS) == ["filters", "augment", "learning_rate", "seed"]
    assert differing_fields(ROWS[:1]) == []
    assert parallel_columns(ROWS) == ["learning_rate", "filters", "augment", "parameters", "seed"]


def test_runs_frame_columns():
    frame = runs_frame([{**row, "continues": "a" if row["run"] == "c" else ""} for row in ROWS])
    assert list(frame.columns)[:8] == ["run", "state", "epochs done", "test accuracy", "best accuracy",
                                       "under attack", "minutes", "parameters"]  # fmt: skip
    assert list(frame.columns)[8:] == ["continues", "filters", "augment", "learning_rate", "seed"]
    assert "continues" not in runs_frame(ROWS).columns
    words = "50 held-out training images"
    held = runs_frame([{**row, "tested on": words if row["run"] == "b" else ""} for row in ROWS])
    assert list(held.columns)[8] == "tested on" and list(held["tested on"]) == ["", words, ""]
    assert "tested on" not in runs_frame(ROWS).columns  # every run on the test set: no column


def test_run_row_of_a_real_run(finished_run, runs_dir):
    run = finished_run
    row = run_row(run)
    assert row["run"] == run.id and row["state"] == "finished" and row["epochs done"] == 2
    assert row["best accuracy"] == max(run.history()["val_accuracy"])
    assert row["parameters"] == run.start_event()["parameters"] > 0
    assert row["filters"] == "8" and row["train_size"] == 200 and row["continues"] == ""
    assert row["tested on"] == ""  # the test set


def test_the_under_attack_column_is_empty_until_measured_then_the_kept_figure(finished_run):
    run = finished_run
    assert run_row(run)["under attack"] is None
    epoch = run.inside_epochs()[-1]
    record = {"epoch": epoch, "images": 100, "budgets": [0, 1, 2, 4, 8],
              "accuracy": {"fgsm": [0.9, 0.8, 0.6, 0.4, 0.234], "pgd": [0.9, 0.7, 0.5, 0.2, 0.01]}}  # fmt: skip
    path = kept.kept_file(run, epoch, "robustness", str(ROBUSTNESS_IMAGES), ".json")
    assert kept.keep_record(path, record)
    try:
        assert run_row(run)["under attack"] == 0.234  # FGSM at ε = 8
    finally:
        path.unlink()


def test_a_damaged_config_still_gets_a_row(finished_run, runs_dir):
    run = finished_run
    shutil.copytree(run.path, runs_dir / run.id)
    (runs_dir / run.id / "config.json").write_text("{ not json")
    row = run_row(open_run(run.id, runs_dir))
    assert row["run"] == run.id and row["filters"] is None and row["best accuracy"] is not None


def test_history_csv_round_trips():
    frame = pd.read_csv(io.StringIO(history_csv({**HISTORY, "seconds": [1.0, 2.0, 3.0]})))
    assert frame["epoch"].tolist() == [1, 2, 3] and frame["val_accuracy"].tolist() == [0.45, 0.52, 0.55]
    assert list(frame.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    assert history_csv({}).strip() == "epoch,loss,accuracy,val_loss,val_accuracy,seconds"
    short = pd.read_csv(io.StringIO(history_csv(HISTORY)))  # a history without seconds
    assert short["seconds"].isna().all() and len(short) == 3


def test_overlay_figure_one_curve_per_run():
    other = {**HISTORY, "val_accuracy": [0.3, 0.4, 0.5]}
    figure = overlay_figure({"first": HISTORY, "second": other}, "val_accuracy")
    assert [trace.name for trace in figure.data] == ["first", "second"]
    assert list(figure.data[1].y) == [0.3, 0.4, 0.5] and figure.data[0].line.color != figure.data[1].line.color
    assert figure.layout.yaxis.tickformat == ".0%" and figure.layout.yaxis.title.text == "validation accuracy"
    assert overlay_figure({}, "loss").data == ()


def test_parallel_figure_axes_and_categories():
    frame = runs_frame(ROWS)
    figure = parallel_figure(
        frame, [axis(c) for c in ["filters", "augment", "learning_rate", "parameters"]], ACCURACY_AXIS
    )
    (trace,) = figure.data
    labels = [dimension.label for dimension in trace.dimensions]
    assert labels == ["filters", "augment", "learn. rate", "parameters", "accuracy"]
    filters, augment, rate, parameters, accuracy = trace.dimensions
    assert list(filters.ticktext) == ["8", "32", "32, 64"] and list(filters.values) == [1, 2, 0]
    assert list(augment.ticktext) == ["no", "yes"] and list(augment.values) == [0, 1, 0]
    # The learning rate on a log scale, ticked at the rates the runs used.
    assert list(rate.values) == [-3, -2, -3] and list(rate.ticktext) == ["0.001", "0.01"]
    assert parameters.tickformat == "~s" and accuracy.tickformat == ".0%"
    assert list(trace.line.color) == [0.5, 0.6, 0.4]


def test_history_figure_marks_where_a_run_was_continued():
    figure = history_figure(HISTORY, "accuracy", continued_after=2)
    assert figure.layout.shapes[0].x0 == 2 and figure.layout.annotations[0].text == "continued"
    assert not history_figure(HISTORY, "accuracy").layout.shapes


def test_a_paused_run_says_so_in_its_row(finished_run, runs_dir):
    shutil.copytree(finished_run.path, runs_dir / finished_run.id)
    run = open_run(finished_run.id, runs_dir)
    since = (datetime.now(UTC) - timedelta(seconds=75)).isoformat()
    write_status(run.files.status, run.written_status().replace(state="running", pid=os.getpid(), pid_start=None,
                                                                paused_since=since))  # fmt: skip
    assert run_summary(run)["paused_seconds"] == pytest.approx(75, abs=5)
    assert run_row(run)["state"] == "paused"
