"""cifar.runs.run: finding run folders (the runs folder, ids that stay inside it, listing newest
first) and `Run`'s reads of one, on run folders written by hand: only the epochs the history
claims count, and a missing or damaged file is a RunError in words."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cifar.config.settings import ModelConfig
from cifar.errors import RunError
from cifar.runs import events
from cifar.runs import run as run_module
from cifar.runs.run import Run, check_run_id, find_run, list_runs, open_run, open_run_dir, runs_root
from cifar.runs.status import DataInfo, RunStatus, write_status

ID = "20261129-153501-tutorial-a1b2"


def _make_run(folder, epochs=(), predictions=(), weights=(), model=False):
    """A run folder as a trainer leaves it: config, a history of `epochs`, and the files named."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"epochs": 3}))
    if epochs:
        (folder / "history.json").write_text(json.dumps({"epoch": list(epochs), "val_accuracy": [0.5] * len(epochs)}))
    for epoch in predictions:
        (folder / "predictions").mkdir(exist_ok=True)
        np.save(folder / "predictions" / f"epoch-{epoch:03d}.npy", np.full((2, 10), epoch / 100, dtype=np.float16))
    for epoch in weights:
        (folder / "weights").mkdir(exist_ok=True)
        (folder / "weights" / f"epoch-{epoch:03d}.npz").write_bytes(b"")
    if model:
        (folder / "model.keras").write_bytes(b"model")
    return Run(folder)


def test_the_runs_folder_is_the_one_given_else_the_environments_else_runs_here(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_RUNS_DIR", str(tmp_path / "from-env"))
    assert runs_root(tmp_path / "given") == tmp_path / "given"
    assert runs_root() == tmp_path / "from-env"
    monkeypatch.delenv("CIFAR_RUNS_DIR")
    monkeypatch.chdir(tmp_path)
    assert runs_root() == tmp_path / "runs"
    assert runs_root("relative") == tmp_path / "relative"  # absolute, whatever the cwd later
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert runs_root("~/my-runs") == tmp_path / "home" / "my-runs"


@pytest.mark.parametrize("good", [ID, "a", "A.b_c-d", "7", "x" * 100])
def test_a_plain_folder_name_is_a_run_id(good):
    assert check_run_id(good) == good


@pytest.mark.parametrize(
    "bad",
    ["../etc", "..", "a..b", "/etc/passwd", "a/b", "a\\b", "", "x" * 101, "%2e%2e", "run\x00id", "run\n", ".hidden",
     "-flag", "_x", "white space", "é", None, 5],
)  # fmt: skip
def test_anything_else_is_refused_in_words(bad):
    with pytest.raises(RunError) as caught:
        check_run_id(bad)
    shown = repr(str(bad)[:60])
    assert str(caught.value) == (
        f"{shown} is not a run id: ids are letters, digits, '.', '-' and '_' (at most 100), like {ID}."
    )


def test_a_long_refused_id_is_shown_cut_short():
    with pytest.raises(RunError) as caught:
        check_run_id("y" * 5000)
    assert str(caught.value).startswith(repr("y" * 60) + " is not a run id")


@pytest.mark.parametrize("bad", ["../etc", "..", "/etc/passwd", "a/b", "", "x" * 101, "%2e%2e", "run\x00id"])
def test_run_ids_never_reach_outside(bad, runs_dir):
    with pytest.raises(RunError):
        open_run(bad, runs_dir)


def test_a_run_opens_by_id_only_when_its_folder_has_a_config(runs_dir):
    run = _make_run(runs_dir / ID)
    assert open_run(ID, runs_dir) == run and open_run(ID) == run  # CIFAR_RUNS_DIR by default
    (runs_dir / "no-config").mkdir()
    with pytest.raises(RunError) as caught:
        open_run("no-config", runs_dir)
    assert str(caught.value) == f"No run 'no-config' in {runs_dir}; `python -m cifar runs` lists them."


def test_a_link_in_the_runs_folder_to_a_run_elsewhere_is_no_run(runs_dir, tmp_path):
    _make_run(tmp_path / "elsewhere" / ID)
    (runs_dir / "linked").symlink_to(tmp_path / "elsewhere" / ID, target_is_directory=True)
    with pytest.raises(RunError, match="No run 'linked'"):
        open_run("linked", runs_dir)
    assert list_runs(runs_dir) == []


def test_a_run_directory_named_by_path_needs_a_config(tmp_path, monkeypatch):
    run = _make_run(tmp_path / "somewhere" / "r")
    monkeypatch.chdir(tmp_path)
    assert open_run_dir("somewhere/r") == run  # made absolute
    with pytest.raises(RunError) as caught:
        open_run_dir("somewhere")
    assert str(caught.value) == f"{tmp_path / 'somewhere'} is not a run directory (it has no config.json)."


def test_find_run_takes_a_path_or_an_id(runs_dir, tmp_path, monkeypatch):
    by_id = _make_run(runs_dir / ID)
    by_path = _make_run(tmp_path / "here" / "local-run")
    monkeypatch.chdir(tmp_path / "here")
    assert find_run(ID) == by_id
    assert find_run(str(by_path.path)) == by_path
    assert find_run("local-run") == by_path  # a run folder in the current folder, named alone
    assert find_run("./local-run") == by_path
    with pytest.raises(RunError, match="No run 'missing'"):
        find_run("missing")
    with pytest.raises(RunError, match="is not a run directory"):
        find_run("./missing")


def test_runs_are_listed_newest_first_and_nothing_else_is(runs_dir):
    for run_id in ["20261129-100000-a-0001", "20261130-090000-b-0002", "20261129-235959-c-0003"]:
        _make_run(runs_dir / run_id)
    (runs_dir / "a-file").write_text("x")
    (runs_dir / "20261201-000000-no-config").mkdir()
    _make_run(runs_dir / ".queue")  # the launcher's own folders start with a dot
    _make_run(runs_dir / "white space")
    assert [run.id for run in list_runs(runs_dir)] == [
        "20261130-090000-b-0002",
        "20261129-235959-c-0003",
        "20261129-100000-a-0001",
    ]


def test_without_a_runs_folder_there_are_no_runs(tmp_path):
    assert list_runs(tmp_path / "nowhere") == []


def test_a_runs_folder_that_cannot_be_listed_is_a_run_error(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    root.mkdir()

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(root), "iterdir", refuse)
    with pytest.raises(RunError) as caught:
        list_runs(root)
    assert str(caught.value) == (
        f"Could not list the runs in {root} (Permission denied: {root}): check that the runs folder can be read"
    )


def test_a_run_was_tested_on_a_test_set_only_when_every_label_agrees(tmp_path):
    run = _make_run(tmp_path / "r")
    np.save(run.files.labels, np.array([0, 1, 2], dtype=np.uint8))
    # Through the module: pytest would collect a function named tested_on imported here.
    assert run_module.tested_on(run, np.array([0, 1, 2], dtype=np.uint8)) is True
    assert run_module.tested_on(run, np.array([0, 1, 3], dtype=np.uint8)) is False
    assert run_module.tested_on(run, np.array([0, 1], dtype=np.uint8)) is False


def test_a_missing_or_damaged_labels_file_is_a_run_error(tmp_path):
    run = _make_run(tmp_path / "r")
    with pytest.raises(RunError, match=r"labels\.npy is missing or damaged .*; the run cannot show it\."):
        run.labels()
    run.files.labels.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(RunError, match="is missing or damaged"):
        run.labels()


@pytest.mark.parametrize("text", [None, "[1, 2]", '{"epoch": [1', "3"])
def test_a_missing_or_odd_history_is_empty(tmp_path, text):
    run = _make_run(tmp_path / "r")
    if text is not None:
        run.files.history.write_text(text)
    assert run.history() == {} and run.prediction_epochs() == [] and run.inside_epochs() == []


def test_only_epochs_the_history_claims_have_predictions(tmp_path):
    # Epoch 3's predictions were written, then the run failed before its history was.
    run = _make_run(tmp_path / "r", epochs=[1, 2], predictions=[1, 2, 3])
    assert run.prediction_epochs() == [1, 2]
    assert run.predictions().tolist() == np.full((2, 10), 0.02, dtype=np.float16).tolist()  # the last claimed
    assert run.predictions(1)[0, 0] == np.float16(0.01)
    with pytest.raises(RunError) as caught:
        run.predictions(3)
    assert str(caught.value) == "Run r has predictions for epochs 1–2; got 3."


def test_a_run_with_no_finished_epoch_has_no_predictions(tmp_path):
    run = _make_run(tmp_path / "r", predictions=[1])
    with pytest.raises(RunError) as caught:
        run.predictions()
    assert str(caught.value) == "Run r has no finished epoch yet, so no predictions."


def test_the_epochs_to_look_inside_are_the_kept_weights_and_the_last_with_a_model(tmp_path):
    run = _make_run(tmp_path / "with-model", epochs=[1, 2, 3, 4], weights=[1, 2, 5], model=True)
    assert run.weight_epochs() == [1, 2]  # 5 is not in the history
    assert run.inside_epochs() == [1, 2, 4]
    without = _make_run(tmp_path / "without-model", epochs=[1, 2, 3], weights=[1, 2])
    assert without.inside_epochs() == [1, 2]


def test_the_class_names_are_the_status_data_s_else_cifar_10s(tmp_path):
    run = _make_run(tmp_path / "r")
    cifar10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    assert run.class_names() == cifar10
    write_status(run.files.status, RunStatus(data=DataInfo(source="tree", class_names=())))
    assert run.class_names() == cifar10
    write_status(run.files.status, RunStatus(data=DataInfo(source="tree", class_names=("cat", "dog"))))
    assert run.class_names() == ("cat", "dog")


def test_the_model_time_is_the_files_and_a_missing_model_is_a_run_error(tmp_path):
    run = _make_run(tmp_path / "r")
    assert run.has_model() is False
    with pytest.raises(RunError, match=r"^Run r has no model now \(.*\): it may have been deleted meanwhile$"):
        run.model_written_ns()
    run.files.model.write_bytes(b"m")
    os.utime(run.files.model, ns=(1_000_000_000, 1_234_567_890_123))
    assert run.has_model() is True and run.model_written_ns() == 1_234_567_890_123


def test_the_config_the_status_and_a_stop_request_are_read_from_their_files(tmp_path):
    run = _make_run(tmp_path / "r")
    assert run.config() == ModelConfig(epochs=3)
    assert run.written_status() == RunStatus()  # no status yet: queued
    write_status(run.files.status, RunStatus(state="running", pid=5))
    assert run.written_status().pid == 5
    assert run.stop_requested() is False
    run.files.stop.touch()
    assert run.stop_requested() is True


def test_the_start_event_is_the_first_line_once_whole(tmp_path):
    run = _make_run(tmp_path / "r")
    assert run.start_event() is None
    run.files.events.write_text('{"type": "start", "steps": 10}\n')
    assert run.start_event() == {"type": "start", "steps": 10}


def test_progress_reads_the_last_batch(tmp_path, monkeypatch):
    (tmp_path / "status.json").write_text('{"epochs": 4}')
    run = Run(tmp_path)
    assert run.progress() is None
    (tmp_path / "events.jsonl").write_text(
        '{"type": "start"}\n{"type": "batch", "epoch": 2, "batch": 50, "batches": 100, "eta_seconds": 9}\n'
    )
    progress = run.progress()
    assert progress.fraction == 1.5 / 4 and progress.eta_seconds == 9 and progress.batch == 50
    # A long log: only its end is read, and a line cut by that read is skipped, not misread.
    batch = '{"type": "batch", "epoch": 3, "batch": %d, "batches": 100, "eta_seconds": 1}\n'
    (tmp_path / "events.jsonl").write_text("".join(batch % b for b in range(1, 1001)) + '{"type": "epoch"}\n')
    monkeypatch.setattr(events, "TAIL_BYTES", 500)
    assert events.last_event(run.files.events, "batch")["batch"] == 1000
    assert run.progress().batch == 1000
