from __future__ import annotations

import io
import os
import pickle
import pickletools
import shlex
import struct
import time

import numpy as np
import pytest
from PIL import Image
from synthetic import make_images, write_archive, write_batches, write_tree

from cifar.data import CLASS_NAMES, DataError, alignment, cache, load_dataset, sources, stratified_subset


def _expected(train=200, test=100):
    return make_images(train, seed=1), make_images(test, seed=2)


def test_python_batches_folder(batches_dir):
    dataset = load_dataset(batches_dir)
    (x_train, y_train), (x_test, y_test) = _expected()
    assert dataset.x_train.dtype == np.uint8 and dataset.x_train.shape == (200, 32, 32, 3)
    np.testing.assert_array_equal(dataset.x_train, x_train)
    np.testing.assert_array_equal(dataset.y_train, y_train)
    np.testing.assert_array_equal(dataset.x_test, x_test)
    np.testing.assert_array_equal(dataset.y_test, y_test)
    assert dataset.class_names == CLASS_NAMES


def test_parent_of_batches_folder_is_found(batches_dir):
    assert len(load_dataset(batches_dir.parent).y_train) == 200


def test_official_archive(tmp_path):
    dataset = load_dataset(write_archive(tmp_path / "cifar-10-python.tar.gz"))
    (x_train, _), (_x_test, y_test) = _expected()
    np.testing.assert_array_equal(dataset.x_train, x_train)
    np.testing.assert_array_equal(dataset.y_test, y_test)


def test_image_tree_follows_cifar_label_order(tree_dir):
    dataset = load_dataset(tree_dir)
    assert dataset.class_names == CLASS_NAMES
    (x_train, y_train), _ = _expected()
    # The tree is read class by class; compare each class's images as sets of arrays.
    for label in range(10):
        ours = dataset.x_train[dataset.y_train == label]
        theirs = x_train[y_train == label]
        np.testing.assert_array_equal(ours, theirs)  # PNG is lossless and files sort in order


def test_tree_root_found_one_level_down(tree_dir):
    # ../shared's layout: the archive unpacks to cifar10-jpeg/{train,test}
    assert len(load_dataset(tree_dir.parent).y_test) == 100


def test_tree_jpeg_and_subset_of_classes_keeps_cifar_indices(tmp_path):
    root = write_tree(tmp_path / "t", train=40, test=20, suffix=".jpg")
    for split in ("train", "test"):
        for name in CLASS_NAMES[:2]:  # drop airplane and automobile everywhere
            for file in (root / split / name).iterdir():
                file.unlink()
            (root / split / name).rmdir()
    dataset = load_dataset(root)
    assert dataset.class_names == CLASS_NAMES[2:]
    assert set(np.unique(dataset.y_train)) == set(range(8))


def test_other_labelled_sets_use_alphabetical_classes(tmp_path):
    for split in ("train", "test"):
        for name in ("zebra", "apple"):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            Image.new("RGB", (32, 32), "red").save(folder / "a.png")
    assert load_dataset(tmp_path).class_names == ("apple", "zebra")


def test_cache_is_used_and_rebuilt_when_source_changes(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "tree", train=20, test=10)
    first = load_dataset(root)
    calls = []
    real_decode = sources.decode
    monkeypatch.setattr(sources, "decode", lambda source: calls.append(source) or real_decode(source))
    second = load_dataset(root)
    assert calls == [], "an unchanged source must come from the cache"
    np.testing.assert_array_equal(first.x_train, second.x_train)
    assert second.class_names == first.class_names
    for array in (second.x_train, second.y_train, second.x_test, second.y_test):
        assert array.ctypes.data % alignment.ALIGNMENT == 0 and array.flags.c_contiguous  # usable in place
    # A new image changes the source: the cache is rebuilt and the image is there.
    Image.new("RGB", (32, 32), "blue").save(root / "train" / "cat" / "new.png")
    third = load_dataset(root)
    assert len(calls) == 1 and len(third.y_train) == 21


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_cache_is_rebuilt(tmp_path, damage):
    root = write_tree(tmp_path / "tree", train=20, test=10)
    expected = load_dataset(root)
    for file in cache.cache_dir().glob("*.npz"):
        content = file.read_bytes()
        file.write_bytes(b"not a numpy file" if damage == "garbage" else content[: len(content) // 2])
    again = load_dataset(root)
    np.testing.assert_array_equal(again.x_train, expected.x_train)


def test_aligned_copies_only_what_is_not_aligned():
    array = alignment.aligned_empty((5, 32, 32, 3), np.uint8)
    assert array.ctypes.data % alignment.ALIGNMENT == 0 and alignment.aligned(array) is array
    offset = np.arange(1001, dtype=np.uint8)[1:]  # starts one byte past an allocation
    moved = alignment.aligned(offset)
    assert moved is not offset and moved.ctypes.data % alignment.ALIGNMENT == 0
    np.testing.assert_array_equal(moved, offset)


def test_environment_variable_is_a_source(batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    assert load_dataset().source == str(batches_dir.resolve())


def test_offline_without_local_copy_says_what_to_do(monkeypatch):
    import keras

    def offline():
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/...: None -- [Errno -3]")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(DataError) as caught:
        load_dataset()
    message = str(caught.value)
    assert "CIFAR10_DIR" in message and "cifar-10-python.tar.gz" in message


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")


def test_missing_split(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    for file in (root / "test").rglob("*.png"):
        file.unlink()
    for folder in sorted((root / "test").iterdir()):
        folder.rmdir()
    (root / "test").rmdir()
    with pytest.raises(DataError, match="no test/ folder"):
        load_dataset(root)


def test_unknown_class_folder_is_named(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    (root / "train" / "kangaroo").mkdir()
    with pytest.raises(DataError, match="kangaroo"):
        load_dataset(root)


def test_unreadable_image_is_named(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    bad = root / "train" / "dog" / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(DataError, match=r"broken\.png"):
        load_dataset(root)


def test_wrong_image_size_is_named(tmp_path):
    root = write_tree(tmp_path / "t", train=20, test=10)
    Image.new("RGB", (64, 64)).save(root / "test" / "cat" / "big.png")
    with pytest.raises(DataError, match=r"big.png is 64×64"):
        load_dataset(root)


def test_labels_out_of_range(tmp_path):
    folder = write_batches(tmp_path / "b", train=20, test=10)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}, handle)
    with pytest.raises(DataError, match="label 12"):
        load_dataset(folder)


class _RunsAShellCommand:
    """Unpickling this runs `touch marker` through os.system: what a malicious batch would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def test_batch_whose_pickle_runs_code_is_refused_and_not_run(tmp_path):
    folder = write_batches(tmp_path / "b", train=20, test=10)
    marker = tmp_path / "the-batch-was-unpickled"
    hostile = pickle.dumps({b"data": _RunsAShellCommand(marker), b"labels": [0]})
    (folder / "data_batch_1").write_bytes(hostile)
    with pytest.raises(DataError) as caught:
        load_dataset(folder)
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


def test_batch_as_python_2_and_numpy_1_wrote_it(tmp_path):
    # The official batches' own dialect: Python 2 strings and numpy 1's numpy.core module.
    folder = write_batches(tmp_path / "b", train=20, test=10)
    x_test, y_test = make_images(10, seed=3)
    rows = x_test.transpose(0, 3, 1, 2).reshape(len(x_test), -1)
    buffer = io.BytesIO()
    batch = {"batch_label": "testing batch 1 of 1", "data": rows, "labels": [int(v) for v in y_test]}
    _Python2Pickler(buffer, protocol=2).dump(batch)
    written = buffer.getvalue().replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in written
    assert not any(op.name.endswith("UNICODE") for op, _, _ in pickletools.genops(written))
    (folder / "test_batch").write_bytes(written)
    dataset = load_dataset(folder)
    np.testing.assert_array_equal(dataset.x_test, x_test)
    np.testing.assert_array_equal(dataset.y_test, y_test)


def test_missing_test_batch(tmp_path):
    folder = write_batches(tmp_path / "b", train=20, test=10)
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match="test_batch"):
        load_dataset(folder)


def test_not_an_archive(tmp_path):
    bogus = tmp_path / "cifar.tar.gz"
    bogus.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataError, match=r"not a readable tar\.gz"):
        load_dataset(bogus)


def test_stratified_subset_equal_per_class_and_fixed_by_seed():
    labels = np.repeat(np.arange(10), 50)
    chosen = stratified_subset(labels, 100, seed=3)
    assert len(chosen) == 100 and len(set(chosen)) == 100
    assert np.bincount(labels[chosen], minlength=10).tolist() == [10] * 10
    np.testing.assert_array_equal(chosen, stratified_subset(labels, 100, seed=3))
    assert not np.array_equal(chosen, stratified_subset(labels, 100, seed=4))


def test_stratified_subset_uneven_and_short_classes():
    labels = np.array([0] * 3 + [1] * 50 + [2] * 50)
    counts = np.bincount(labels[stratified_subset(labels, 31, seed=0)], minlength=3)
    assert counts.sum() == 31 and counts[0] == 3 and abs(counts[1] - counts[2]) <= 1


@pytest.mark.parametrize("size", [0, 501])
def test_stratified_subset_bounds(size):
    with pytest.raises(ValueError, match="between 1 and 500"):
        stratified_subset(np.repeat(np.arange(10), 50), size, seed=0)


def test_real_data_counts_and_cache_speed(real_data_dir):
    dataset = load_dataset(real_data_dir)
    assert dataset.x_train.shape == (50000, 32, 32, 3) and dataset.x_test.shape == (10000, 32, 32, 3)
    assert dataset.x_train.dtype == np.uint8
    assert np.bincount(dataset.y_train).tolist() == [5000] * 10
    assert np.bincount(dataset.y_test).tolist() == [1000] * 10
    assert dataset.class_names == CLASS_NAMES
    start = time.perf_counter()
    load_dataset(real_data_dir)
    # Reported, not asserted: speed lives in benchmarks/.
    print(f"cached load: {time.perf_counter() - start:.2f} s")
    assert os.listdir(cache.cache_dir())
