"""cifar/data/cache.py: decoded datasets kept as uncompressed .npz files in `CIFAR_CACHE_DIR`,
keyed by the source's files: read back as written and aligned, a new key when the source
changes, and a damaged, foreign or unwritable cache taken as no cache."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from synthetic import make_images, write_tree

from cifar.data import CLASS_NAMES, Dataset, cache, load_dataset

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


@pytest.fixture
def dataset() -> Dataset:
    (x_train, y_train), (x_test, y_test) = make_images(30, seed=1), make_images(20, seed=2)
    return Dataset(x_train, y_train, x_test, y_test, CLASS_NAMES, "synthetic")


@pytest.fixture
def stored(tmp_path) -> Path:
    return tmp_path / "cache" / "0123456789abcdef01234567.npz"


def _assert_same_data(got: Dataset, expected: Dataset) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
        assert getattr(got, name).dtype == getattr(expected, name).dtype
    assert got.class_names == expected.class_names


def test_the_cache_folder_is_cifar_cache_dir_else_under_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for unset in (monkeypatch.delenv, lambda name: monkeypatch.setenv(name, "")):
        unset("CIFAR_CACHE_DIR")
        assert cache.cache_dir() == tmp_path / "home" / ".cache" / "cifar-lab"


def test_a_source_is_cached_in_the_cache_folder_under_its_key(tmp_path):
    source = write_tree(tmp_path / "tree", train=10, test=10)
    file = cache.cache_file(source)
    assert file.parent == cache.cache_dir() and file.name == f"{cache.source_key(source)}.npz"
    assert len(cache.source_key(source)) == 24 and int(cache.source_key(source), 16) >= 0


def test_an_unchanged_source_keeps_its_key(tmp_path):
    source = write_tree(tmp_path / "tree", train=10, test=10)
    assert cache.source_key(source) == cache.source_key(Path(str(source)))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda root: (root / "train" / "cat" / "new.png").write_bytes(b"x"), id="file-added"),
        pytest.param(lambda root: (root / "test" / "dog" / "0005.png").unlink(), id="file-removed"),
        pytest.param(
            lambda root: (root / "test" / "dog" / "0005.png").rename(root / "test" / "dog" / "0005b.png"),
            id="file-renamed",
        ),
        pytest.param(
            lambda root: os.utime(root / "train" / "cat" / "0003.png", ns=(0, 1_000_000_000)), id="file-touched"
        ),
        pytest.param(
            lambda root: (root / "train" / "cat" / "0003.png").write_bytes(b"other bytes"), id="file-rewritten"
        ),
    ],
)
def test_a_folder_source_gets_a_new_key_when_any_of_its_files_changes(tmp_path, change):
    root = write_tree(tmp_path / "tree", train=10, test=10)
    before = cache.source_key(root)
    change(root)
    assert cache.source_key(root) != before


def test_an_archive_source_gets_a_new_key_when_it_is_replaced(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"first")
    before = cache.source_key(archive)
    archive.write_bytes(b"second, longer")
    assert cache.source_key(archive) != before


def test_two_sources_with_the_same_files_have_different_keys(tmp_path):
    first = tmp_path / "a.tar.gz"
    first.write_bytes(b"same")
    second = tmp_path / "b.tar.gz"
    second.write_bytes(b"same")
    os.utime(second, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns))
    assert cache.source_key(first) != cache.source_key(second)


def test_a_new_cache_version_gives_every_source_a_new_key(tmp_path, monkeypatch):
    source = write_tree(tmp_path / "tree", train=10, test=10)
    before = cache.source_key(source)
    monkeypatch.setattr(cache, "_CACHE_VERSION", cache._CACHE_VERSION + 1)
    assert cache.source_key(source) != before


def test_a_written_cache_reads_back_as_written_and_usable_in_place(dataset, stored):
    cache.write(stored, dataset)
    again = cache.read(stored, "from the cache")
    _assert_same_data(again, dataset)
    assert again.source == "from the cache"
    for name in ARRAYS:
        array = getattr(again, name)
        assert array.ctypes.data % 64 == 0 and array.flags.c_contiguous and array.flags.writeable


def test_the_cache_file_is_an_uncompressed_npz_that_numpy_reads(dataset, stored):
    cache.write(stored, dataset)
    with zipfile.ZipFile(stored) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    with np.load(stored, allow_pickle=False) as arrays:
        for name in ARRAYS:
            np.testing.assert_array_equal(arrays[name], getattr(dataset, name))
        assert tuple(arrays["class_names"]) == CLASS_NAMES


def test_a_cache_read_in_small_pieces_is_whole(dataset, stored, monkeypatch):
    # Pieces that do not divide any array's size: the last piece of each is a short one.
    monkeypatch.setattr(cache, "_READ_CHUNK", 1000)
    cache.write(stored, dataset)
    _assert_same_data(cache.read(stored, "s"), dataset)


def test_no_cache_file_reads_as_no_cache(stored):
    assert cache.read(stored, "s") is None


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_cache_is_rebuilt(tmp_path, damage):
    root = write_tree(tmp_path / "tree", train=20, test=10)
    expected = load_dataset(root)
    for file in cache.cache_dir().glob("*.npz"):
        content = file.read_bytes()
        file.write_bytes(b"not a numpy file" if damage == "garbage" else content[: len(content) // 2])
    again = load_dataset(root)
    np.testing.assert_array_equal(again.x_train, expected.x_train)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_cache_file_reads_as_no_cache(dataset, stored, damage):
    cache.write(stored, dataset)
    content = stored.read_bytes()
    damaged = {"garbage": b"not a numpy file", "truncated": content[: len(content) // 2], "empty": b""}
    stored.write_bytes(damaged[damage])
    assert cache.read(stored, "s") is None


@pytest.mark.parametrize(
    "arrays",
    [
        pytest.param({"x_train": np.zeros((2, 32, 32, 3), np.uint8)}, id="arrays-missing"),
        pytest.param(
            {name: np.asfortranarray(np.zeros((2, 3), np.uint8)) for name in (*ARRAYS, "class_names")}, id="fortran"
        ),
        pytest.param(
            {**{name: np.zeros(2, np.uint8) for name in ARRAYS}, "class_names": np.array([{"a": 1}], dtype=object)},
            id="python-objects",
        ),
    ],
)
def test_a_cache_file_this_code_never_writes_reads_as_no_cache(stored, arrays):
    stored.parent.mkdir(parents=True)
    np.savez(stored, **arrays)
    assert cache.read(stored, "s") is None


def test_a_cache_that_cannot_be_written_is_skipped_quietly(dataset, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache.write(blocker / "cache" / "key.npz", dataset)
    assert blocker.read_text() == "not a folder"


def test_a_write_that_fails_midway_leaves_the_earlier_cache_and_no_temporary_file(dataset, stored, monkeypatch):
    cache.write(stored, dataset)
    earlier = stored.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    cache.write(stored, dataset)
    assert stored.read_bytes() == earlier
    assert sorted(p.name for p in stored.parent.iterdir()) == [stored.name]
