"""cifar.runs.writer: `RunWriter`, the training process's side of a run directory: status and
events, and each epoch's files in the order that lets a reader trust the history (predictions,
weights, model, then history), with older weights dropped as `kept_epoch` says. A stand-in
model takes Keras' place."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cifar.runs import writer as writer_module
from cifar.runs.events import read_events
from cifar.runs.layout import RunFiles, kept_epoch
from cifar.runs.status import RunStatus, read_status, write_status
from cifar.runs.writer import RunWriter

VALUES = {"loss": 2.1234567, "accuracy": 0.1, "val_loss": 2.2, "val_accuracy": 0.15, "seconds": 1.5}


class StandInModel:
    """Saves the bytes `MODEL <epoch>`, and notes which of the epoch's files existed by then."""

    def __init__(self, epoch: int, files: RunFiles) -> None:
        self.epoch, self.files, self.seen = epoch, files, {}

    def save(self, path) -> None:
        history = json.loads(self.files.history.read_text()) if self.files.history.exists() else {"epoch": []}
        self.seen = {
            "predictions": self.files.prediction(self.epoch).exists(),
            "weights": self.files.weights_file(self.epoch).exists(),
            "in history": self.epoch in history["epoch"],
        }
        path.write_bytes(b"MODEL %d" % self.epoch)

    def get_weights(self) -> list[np.ndarray]:
        return [np.full((2, 3), self.epoch, dtype=np.float32), np.arange(4, dtype=np.float32)]


def _probabilities(rows: int = 4) -> np.ndarray:
    return np.full((rows, 10), 0.1, dtype=np.float64)


@pytest.fixture
def writer(tmp_path):
    writer = RunWriter(tmp_path)
    yield writer
    writer.close()


def test_a_new_run_starts_queued_with_an_empty_history(writer):
    assert writer.status == RunStatus()
    assert writer.history == {key: [] for key in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")}


def test_a_continued_run_carries_its_parents_history_and_status_on(tmp_path):
    files = RunFiles(tmp_path)
    files.history.write_text(json.dumps({"epoch": [1, 2], "loss": [2.0, 1.5], "from_the_future": [0]}))
    write_status(files.status, RunStatus(state="queued", resumed_from="parent", start_epoch=2))
    writer = RunWriter(tmp_path)
    writer.close()
    assert writer.status.resumed_from == "parent" and writer.status.start_epoch == 2
    assert writer.history["epoch"] == [1, 2] and writer.history["loss"] == [2.0, 1.5]
    assert writer.history["val_accuracy"] == [] and "from_the_future" not in writer.history


@pytest.mark.parametrize("text", ["[1, 2]", '{"epoch": [1', "null"])
def test_a_history_that_is_not_an_object_is_started_afresh(tmp_path, text):
    RunFiles(tmp_path).history.write_text(text)
    writer = RunWriter(tmp_path)
    writer.close()
    assert writer.history["epoch"] == []


def test_each_status_change_is_written_whole_at_once(writer):
    writer.set_status(state="running", pid=42)
    writer.set_status(epoch=1)
    on_disk = read_status(writer.files.status)
    assert (on_disk.state, on_disk.pid, on_disk.epoch) == ("running", 42, 1) and on_disk == writer.status


def test_events_are_appended_and_readable_at_once(writer):
    writer.event("start", epochs=2)
    writer.event("batch", epoch=1, batch=1)
    events, _ = read_events(writer.files.events)
    assert [(event["type"], event.get("epoch")) for event in events] == [("start", None), ("batch", 1)]


def test_labels_are_saved_as_they_are(writer):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    writer.save_labels(labels)
    loaded = np.load(writer.files.labels, allow_pickle=False)
    assert loaded.dtype == np.uint8 and loaded.tolist() == [3, 1, 4, 1, 5]


def test_an_epoch_saves_float16_predictions_its_weights_the_model_and_a_rounded_history(writer):
    seconds = writer.save_epoch(StandInModel(1, writer.files), 1, VALUES, _probabilities())
    predictions = np.load(writer.files.prediction(1), allow_pickle=False)
    assert predictions.dtype == np.float16 and predictions.shape == (4, 10)
    with np.load(writer.files.weights_file(1), allow_pickle=False) as weights:
        assert [weights[name].tolist() for name in sorted(weights.files)] == [[[1.0] * 3] * 2, [0.0, 1.0, 2.0, 3.0]]
    assert writer.files.model.read_bytes() == b"MODEL 1"
    history = json.loads(writer.files.history.read_text())
    assert history == {"epoch": [1], "loss": [2.123457], "accuracy": [0.1], "val_loss": [2.2],
                       "val_accuracy": [0.15], "seconds": [1.5]}  # fmt: skip
    assert read_status(writer.files.status).epoch == 1 and seconds >= 0.0


def test_the_model_is_written_after_the_predictions_and_weights_and_before_the_history(writer):
    model = StandInModel(1, writer.files)
    writer.save_epoch(model, 1, VALUES, _probabilities())
    # So a reader that finds epoch k in the history finds its predictions, weights and a model.
    assert model.seen == {"predictions": True, "weights": True, "in history": False}


def test_a_continued_run_adds_its_epochs_after_its_parents(tmp_path):
    RunFiles(tmp_path).history.write_text(json.dumps({"epoch": [1, 2], "loss": [2.0, 1.5]}))
    writer = RunWriter(tmp_path)
    writer.save_epoch(StandInModel(3, writer.files), 3, {"loss": 1.25}, _probabilities())
    writer.close()
    assert json.loads(writer.files.history.read_text())["epoch"] == [1, 2, 3]
    assert json.loads(writer.files.history.read_text())["loss"] == [2.0, 1.5, 1.25]


def test_past_epoch_50_only_every_tenth_epochs_weights_stay_and_the_last(writer):
    for epoch in (58, 59, 60, 61, 62):
        writer.save_epoch(StandInModel(epoch, writer.files), epoch, VALUES, _probabilities())
    assert writer.files.weight_epochs_on_disk() == [60, 62]
    assert writer.files.prediction_epochs_on_disk() == [58, 59, 60, 61, 62]  # predictions all stay


def test_weights_kept_every_epoch_to_50_then_every_tenth_and_the_last(tmp_path):
    kept = [epoch for epoch in range(1, 131) if kept_epoch(epoch)]
    assert kept[:50] == list(range(1, 51)) and kept[50:] == [60, 70, 80, 90, 100, 110, 120, 130]
    writer = RunWriter(tmp_path)
    writer.files.weights.mkdir()
    for epoch in range(49, 64):
        writer.files.weights_file(epoch).write_bytes(b"w")
        writer._drop_weights_before(epoch)
    assert writer.files.weight_epochs_on_disk() == [49, 50, 60, 63]  # 63: the last so far
    writer.close()


def test_closing_the_writer_closes_the_event_log(tmp_path):
    writer = RunWriter(tmp_path)
    writer.close()
    with pytest.raises(ValueError):  # writing to a closed file
        writer.event("end")


@pytest.mark.parametrize("state", ["finished", "stopped", "failed"])
def test_a_run_ends_with_its_whole_log_written_before_its_status_says_it_ended(writer, monkeypatch, state):
    """A reader that reads until the status says the run has ended then has every event."""
    logged_when_ended = []
    writing = writer_module.write_status

    def noting(path, status):
        if status.state == state:
            logged_when_ended.append([event["type"] for event in read_events(writer.files.events)[0]])
        writing(path, status)

    monkeypatch.setattr(writer_module, "write_status", noting)
    writer.event("start", epochs=2)
    writer.end(state, ended="2026-12-07T10:00:00", **({"error": "it broke"} if state == "failed" else {}))
    assert logged_when_ended == [["start", "end"]]
    assert read_status(writer.files.status).state == state
    (end,) = [event for event in read_events(writer.files.events)[0] if event["type"] == "end"]
    assert end["state"] == state and end.get("error") == ("it broke" if state == "failed" else None)
