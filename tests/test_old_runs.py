"""Runs written before the field table and the typed status (issue 10) still open everywhere.

tests/fixtures/runs-before-issue-10/ holds a run folder exactly as that version wrote it (a
two-epoch run on tests/synthetic.py's batches; its config has no label_smoothing and its
status has no backend), except for the machine's paths, which are blanked.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers import ROOT, run_cli, wait_for_end
from streamlit.testing.v1 import AppTest

from cifar.launch import launcher
from cifar.runs.owner import ALONE
from cifar.runs.run import list_runs, open_run
from cifar.study.compare import run_row, run_summary
from cifar.study.evaluate import summarize

FIXTURE = ROOT / "tests" / "fixtures" / "runs-before-issue-10"
OLD_ID = "20261130-032409-before-issue-10-dd2e"


@pytest.fixture
def old_run(runs_dir):
    shutil.copytree(FIXTURE / OLD_ID, runs_dir / OLD_ID)
    return open_run(OLD_ID, runs_dir)


def test_the_fixture_is_in_the_old_format():
    config = json.loads((FIXTURE / OLD_ID / "config.json").read_text())
    status = json.loads((FIXTURE / OLD_ID / "status.json").read_text())
    assert "label_smoothing" not in config and "backend" not in status and status["state"] == "finished"


def test_an_old_run_reads_as_it_did(old_run):
    assert [run.id for run in list_runs()] == [OLD_ID]
    config = old_run.config()
    assert config.label_smoothing == 0.0 and config.filters == (4,) and config.dense_units == 0
    status = launcher.status(old_run)
    assert status.state == "finished" and status.epoch == 2 and status.backend == "local"
    assert status.data.train_images == 200 and old_run.class_names()[3] == "cat"
    assert old_run.prediction_epochs() == [1, 2] and old_run.start_event()["parameters"] == 10362
    report = summarize(old_run.labels(), old_run.predictions().astype(np.float32), old_run.class_names())
    # Stored as float16, a near tie can fall the other way: one image of the 100 at most.
    assert report["test_accuracy"] == pytest.approx(old_run.history()["val_accuracy"][-1], abs=0.011)
    model = old_run.load_model()
    assert model.count_params() == 10362
    summary = run_summary(old_run)
    assert summary["state"] == "finished" and summary["best_accuracy"] == max(old_run.history()["val_accuracy"])
    assert run_row(old_run)["filters"] == "4"
    # Fields added since (issue 13) take their defaults: the network it built, unchanged.
    assert (config.head, config.early_pool, config.residual, config.weight_decay) == ("flatten", False, False, 0.0)
    assert not config.test_time_flip and not config.mixed_precision
    assert status.machine == "" and status.precision == "" and run_row(old_run)["machine"] == ""


def test_the_command_line_and_the_pages_show_an_old_run(old_run, batches_dir, monkeypatch):
    listed = run_cli("runs")
    assert listed.returncode == 0 and OLD_ID in listed.stdout and "finished" in listed.stdout
    evaluated = run_cli("evaluate", OLD_ID, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["epoch"] == 2
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))  # the data it was trained on
    for page in ("results", "predictions", "runs", "classify"):
        at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60).run()
        assert not at.exception and not at.error, page


def test_an_old_run_continues(old_run, batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    child = launcher.resume(old_run, 1, person=ALONE)
    status = wait_for_end(child)
    assert status.state == "finished", child.files.log.read_text()[-2000:]
    assert child.history()["epoch"] == [1, 2, 3] and child.history()["loss"][:2] == old_run.history()["loss"]
