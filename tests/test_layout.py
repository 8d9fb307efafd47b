"""cifar.runs.layout: the names of a run directory's files, the epochs found on disk, and
`kept_epoch`, which weights stay (every epoch up to 50, then every tenth)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cifar.runs.layout import RunFiles, kept_epoch


def test_every_file_has_the_name_the_layout_documents():
    files = RunFiles(Path("/runs/r1"))
    named = {
        files.config: "config.json",
        files.status: "status.json",
        files.events: "events.jsonl",
        files.history: "history.json",
        files.model: "model.keras",
        files.labels: "labels.npy",
        files.predictions: "predictions",
        files.log: "log.txt",
        files.stop: "stop",
        files.weights: "weights",
    }
    assert len(named) == 10  # no two properties share a path
    for path, name in named.items():
        assert path == Path("/runs/r1") / name


def test_an_epochs_files_are_numbered_with_three_digits_or_more():
    files = RunFiles(Path("/runs/r1"))
    assert files.prediction(7) == Path("/runs/r1/predictions/epoch-007.npy")
    assert files.weights_file(42) == Path("/runs/r1/weights/epoch-042.npz")
    assert files.weights_file(500) == Path("/runs/r1/weights/epoch-500.npz")
    assert files.prediction(1000).name == "epoch-1000.npy"


def test_without_the_folders_no_epoch_is_on_disk(tmp_path):
    files = RunFiles(tmp_path)
    assert files.prediction_epochs_on_disk() == [] and files.weight_epochs_on_disk() == []
    files.predictions.write_text("a file where the folder should be")
    assert files.prediction_epochs_on_disk() == []


def test_epochs_on_disk_are_in_number_order_and_only_from_whole_files_of_their_kind(tmp_path):
    files = RunFiles(tmp_path)
    files.predictions.mkdir()
    files.weights.mkdir()
    for name in ["epoch-010.npy", "epoch-002.npy", "epoch-1000.npy", "epoch-009.npy"]:
        (files.predictions / name).write_bytes(b"")
    # A temporary file mid-rename, another kind's file, and names that only look alike.
    for name in [".epoch-011.npy.k3j2.tmp", "epoch-003.npz", "epoch-004.npy.bak", "epoch-x.npy", "epoch-.npy"]:
        (files.predictions / name).write_bytes(b"")
    for name in ["epoch-051.npz", "epoch-050.npz", "epoch-060.npy", ".epoch-061.npz.ab12.tmp"]:
        (files.weights / name).write_bytes(b"")
    assert files.prediction_epochs_on_disk() == [2, 9, 10, 1000]
    assert files.weight_epochs_on_disk() == [50, 51]


@pytest.mark.parametrize(
    ("epoch", "kept"),
    [(1, True), (49, True), (50, True), (51, False), (59, False), (60, True), (61, False), (99, False),
     (100, True), (499, False), (500, True)],
)  # fmt: skip
def test_weights_are_kept_for_every_epoch_to_50_then_every_tenth(epoch, kept):
    assert kept_epoch(epoch) is kept


def test_a_500_epoch_run_keeps_95_weight_files():
    # 50 to epoch 50, then 60, 70, ... 500: 45 more; the last (500) is among them.
    assert sum(kept_epoch(epoch) for epoch in range(1, 501)) == 95
