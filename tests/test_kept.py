"""What the study keeps in the cache folder (cifar/study/kept.py): named by run, epoch and a digest
of the weights, written whole or not at all, and a damaged or unwritable cache only costs time."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from cifar.data.cache import cache_dir
from cifar.errors import RunError
from cifar.runs.run import open_run_dir
from cifar.study.kept import keep_arrays, keep_record, kept_file, read_arrays, read_record, weights_digest


@pytest.fixture
def copied_run(finished_run, runs_dir):
    """A copy of the finished run that a test may change."""
    return open_run_dir(shutil.copytree(finished_run.path, runs_dir / finished_run.id))


def test_the_digest_changes_when_a_weights_file_is_written_again(copied_run):
    run = copied_run
    first, last = weights_digest(run, 1), weights_digest(run, 2)
    assert len(first) == 16 and first != last and weights_digest(run, 2) == last
    shutil.copyfile(run.files.weights_file(1), run.files.weights_file(2))  # epoch 2 written anew, as epoch 1
    assert weights_digest(run, 2) == first != last


def test_the_digest_of_a_run_without_kept_weights_is_its_model_s(copied_run):
    run = copied_run
    shutil.rmtree(run.files.weights_file(1).parent)
    assert run.weight_epochs() == [] and len(weights_digest(run, 2)) == 16
    run.files.model.unlink()
    with pytest.raises(RunError, match=f"Run {run.id}'s network of epoch 2 cannot be read"):
        weights_digest(run, 2)


def test_a_kept_file_lives_in_the_cache_under_its_run_epoch_and_digest(finished_run):
    run = finished_run
    path = kept_file(run, 2, "map", "dense/all of it", ".npz")
    assert path.parent == cache_dir() / "study" / run.id
    assert path.name == f"map-e2-dense_all_of_it-{weights_digest(run, 2)}.npz"
    assert kept_file(run, 1, "map", "dense", ".npz") != kept_file(run, 2, "map", "dense", ".npz")
    assert not path.parent.exists()  # naming a file writes nothing


def test_arrays_are_kept_and_read_back_as_they_were():
    path = cache_dir() / "study" / "some-run" / "arrays.npz"
    arrays = {"points": np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32), "labels": np.arange(5)}
    assert keep_arrays(path, arrays)
    found = read_arrays(path)
    assert set(found) == {"points", "labels"}
    for name, array in arrays.items():
        assert found[name].dtype == array.dtype
        np.testing.assert_array_equal(found[name], array)
    assert [p.name for p in path.parent.iterdir()] == ["arrays.npz"]  # no temporary file left beside it


def test_a_damaged_or_missing_arrays_file_reads_as_none(tmp_path):
    path = tmp_path / "kept.npz"
    assert read_arrays(path) is None
    path.write_bytes(b"PK\x03\x04 cut short")
    assert read_arrays(path) is None
    np.savez(path, objects=np.array([{"a": 1}], dtype=object))  # pickled objects are never loaded
    assert read_arrays(path) is None


def test_a_record_is_kept_and_anything_but_a_json_object_reads_as_none(tmp_path):
    path = tmp_path / "record.json"
    assert read_record(path) is None
    assert keep_record(path, {"epoch": 2, "accuracy": [0.5]}) and read_record(path) == {"epoch": 2, "accuracy": [0.5]}
    for text in ("[1, 2]", '"text"', "3", "null", "{cut"):
        path.write_text(text)
        assert read_record(path) is None, text


@pytest.fixture
def unwritable_cache(tmp_path, monkeypatch):
    """A cache folder nothing can be written in: read-only, or, where chmod does not stop the
    user (root), a file where the folder should be."""
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):
        folder.chmod(0o700)
        folder.rmdir()
        folder.write_text("not a folder")
    monkeypatch.setenv("CIFAR_CACHE_DIR", str(folder))
    yield folder
    if folder.is_dir():
        folder.chmod(0o700)


def test_an_unwritable_cache_is_said_by_false_not_an_error(unwritable_cache):
    path = cache_dir() / "study" / "some-run" / "kept.npz"
    assert keep_arrays(path, {"a": np.zeros(3)}) is False
    assert keep_record(path.with_suffix(".json"), {"epoch": 1}) is False
    assert read_arrays(path) is None and read_record(path.with_suffix(".json")) is None
