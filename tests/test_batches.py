"""cifar/data/batches.py: the official python format, packed (`cifar-10-python.tar.gz`) or
unpacked (`cifar-10-batches-py/`): pixels and labels as synthetic.py wrote them, batches in
numeric order, a hostile pickle refused unrun, and damage named in words."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import shlex
import struct
import tarfile
import tempfile

import numpy as np
import pytest
from synthetic import make_images, write_archive, write_batches

from cifar.data import DataError, UnusableSource, batches


def _expected(train=200, test=100):
    return make_images(train, seed=1), make_images(test, seed=2)


def _assert_splits_equal(splits, expected) -> None:
    for (x, y), (x_expected, y_expected) in zip(splits, expected, strict=True):
        assert x.dtype == np.uint8 and x.shape == x_expected.shape
        np.testing.assert_array_equal(x, x_expected)
        np.testing.assert_array_equal(y, y_expected)


def test_a_batches_folder_reads_as_the_pixels_and_labels_written(batches_dir):
    _assert_splits_equal(batches.read_folder(batches_dir), _expected())


def test_a_batches_folder_is_found_itself_or_one_level_down(batches_dir, tmp_path):
    assert batches.find_folder(batches_dir) == batches_dir
    assert batches.find_folder(batches_dir.parent) == batches_dir
    assert batches.find_folder(tmp_path) is None


def test_training_batches_are_read_in_numeric_order_past_nine(tmp_path):
    # By name, data_batch_10 and _11 would come before data_batch_2 and shuffle the images.
    folder = write_batches(tmp_path / "b", train=220, test=10, batches=11)
    (x_train, y_train), _ = batches.read_folder(folder)
    expected_x, expected_y = make_images(220, seed=1)
    np.testing.assert_array_equal(x_train, expected_x)
    np.testing.assert_array_equal(y_train, expected_y)


def test_the_official_archive_reads_as_the_pixels_and_labels_written(tmp_path):
    splits = batches.read_archive(write_archive(tmp_path / "cifar-10-python.tar.gz"))
    _assert_splits_equal(splits, _expected())


def test_an_archive_is_read_whatever_the_depth_of_its_batches_and_whatever_else_it_holds(batches_dir, tmp_path):
    archive = tmp_path / "repacked.tar.gz"
    readme = tmp_path / "readme.html"
    readme.write_text("<p>CIFAR-10</p>")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(readme, arcname="a/readme.html")
        for file in sorted(batches_dir.iterdir()):
            tar.add(file, arcname=f"a/b/c/{file.name}")
    _assert_splits_equal(batches.read_archive(archive), _expected())


def test_an_archive_member_cannot_write_outside_the_scratch_folder(batches_dir, tmp_path, monkeypatch):
    scratch_parent = tmp_path / "scratch-parent"
    scratch_parent.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_parent))
    archive = tmp_path / "climbing.tar"
    with tarfile.open(archive, "w") as tar:
        for file in sorted(batches_dir.iterdir()):
            tar.add(file, arcname=f"../../escaped/{file.name}")
    _assert_splits_equal(batches.read_archive(archive), _expected())
    assert not (tmp_path / "escaped").exists()
    assert list(scratch_parent.iterdir()) == [], "the scratch folder is removed, and nothing beside it is left"


def test_an_archive_without_batches_says_so_and_where_to_get_them(tmp_path):
    archive = tmp_path / "photos.tar.gz"
    note = tmp_path / "note.txt"
    note.write_text("no batches here")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(note, arcname="note.txt")
    with pytest.raises(UnusableSource, match=r"photos\.tar\.gz has no CIFAR-10 batches") as caught:
        batches.read_archive(archive)
    assert "cifar-10-python.tar.gz" in str(caught.value)


def test_a_file_that_is_not_a_tar_gz_is_named_as_such(tmp_path):
    bogus = tmp_path / "cifar.tar.gz"
    bogus.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match=r"not a readable tar\.gz"):
        batches.read_archive(bogus)


@pytest.mark.parametrize("form", ["archive", "folder"])
def test_reading_batches_reports_bytes_done_of_all_bytes(tmp_path, form):
    if form == "archive":
        source = write_archive(tmp_path / "cifar-10-python.tar.gz")
        total = source.stat().st_size
        read = batches.read_archive
    else:
        source = write_batches(tmp_path / "cifar-10-batches-py")
        total = sum(p.stat().st_size for p in source.iterdir() if "batch_" in p.name or p.name == "test_batch")
        read = batches.read_folder
    seen = []
    splits = read(source, seen.append)
    assert seen and {p.total for p in seen} == {total} and seen[-1].done == total
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert {p.unit for p in seen} == {"bytes"}
    _assert_splits_equal(splits, _expected())


def test_a_folder_without_its_test_batch_names_it(tmp_path):
    folder = write_batches(tmp_path / "b", train=20, test=10)
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="test_batch"):
        batches.read_folder(folder)


def test_a_folder_without_training_batches_says_which_it_needs(tmp_path):
    folder = write_batches(tmp_path / "b", train=20, test=10)
    for file in folder.glob("data_batch_*"):
        file.unlink()
    with pytest.raises(DataError, match=r"has no training batches \(data_batch_1 \.\.\. data_batch_5\)"):
        batches.read_folder(folder)


def test_a_batch_without_data_or_labels_is_named(tmp_path):
    file = tmp_path / "data_batch_1"
    file.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}))
    with pytest.raises(DataError, match=r"data_batch_1 is not a readable CIFAR-10 batch: it holds no b'data'"):
        batches.read_batch(file)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda content: content[: len(content) // 2], id="truncated"),
        pytest.param(lambda _: b"not a pickle at all", id="garbage"),
        pytest.param(lambda _: pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), id="10x10"),
    ],
)
def test_a_damaged_batch_is_named_not_raised_as_it_came(batches_dir, tmp_path, damage):
    file = tmp_path / "test_batch"
    file.write_bytes(damage((batches_dir / "test_batch").read_bytes()))
    with pytest.raises(DataError, match=r"test_batch is not a readable CIFAR-10 batch"):
        batches.read_batch(file)


class _RunsAShellCommand:
    """Unpickling this runs `touch marker` through os.system: what a malicious batch would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def test_a_batch_whose_pickle_runs_code_is_refused_and_not_run(tmp_path):
    folder = write_batches(tmp_path / "b", train=20, test=10)
    marker = tmp_path / "the-batch-was-unpickled"
    hostile = pickle.dumps({b"data": _RunsAShellCommand(marker), b"labels": [0]})
    (folder / "data_batch_1").write_bytes(hostile)
    with pytest.raises(DataError) as caught:
        batches.read_folder(folder)
    assert not marker.exists(), "loading the batch ran its payload"
    assert "data_batch_1 is not a CIFAR-10 batch: its pickle calls for" in str(caught.value)
    assert ".system" in str(caught.value)
    pickle.loads(hostile)  # unpickled freely, on purpose: the payload is real
    assert marker.exists()


class _Python2Pickler(pickle._Pickler):
    """Pickles as Python 2 did: every string, key and array buffer a byte string."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_byte_string(self, text: bytes) -> None:
        if len(text) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(text)]) + text)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(text)) + text)
        self.memoize(text)

    dispatch[bytes] = save_byte_string
    dispatch[str] = lambda self, text: self.save_byte_string(text.encode())


def test_a_batch_as_python_2_and_numpy_1_wrote_it_is_read(tmp_path):
    # The official batches' own dialect: Python 2 strings and numpy 1's numpy.core module.
    x_test, y_test = make_images(10, seed=3)
    rows = x_test.transpose(0, 3, 1, 2).reshape(len(x_test), -1)
    buffer = io.BytesIO()
    batch = {"batch_label": "testing batch 1 of 1", "data": rows, "labels": [int(v) for v in y_test]}
    _Python2Pickler(buffer, protocol=2).dump(batch)
    written = buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in written
    assert not any(op.name.endswith("UNICODE") for op, _, _ in pickletools.genops(written))
    (tmp_path / "test_batch").write_bytes(written)
    images, labels = batches.read_batch(tmp_path / "test_batch")
    np.testing.assert_array_equal(images, x_test)
    np.testing.assert_array_equal(labels, y_test)
