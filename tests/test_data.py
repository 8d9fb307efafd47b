"""The package's public loader as a whole (cifar/data/__init__.py): `load_dataset` reads a
local copy into uint8 arrays and keeps it in the decoded cache, and `stratified_subset`.

Each module's own behaviour is tested in its file: test_batches.py, test_image_tree.py,
test_cache.py, test_sources.py, test_download.py, test_alignment.py, test_dataset.py and
test_data_progress.py; a machine with no data yet, and the pages, in test_no_data.py.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image
from synthetic import make_images, write_tree

from cifar.data import (
    CLASS_NAMES,
    DataError,
    alignment,
    cache,
    evaluation_set,
    held_out,
    load_dataset,
    sources,
    stratified_subset,
    training_set,
)


def _expected(train=200, test=100):
    return make_images(train, seed=1), make_images(test, seed=2)


def test_a_batches_folder_loads_as_uint8_arrays_of_the_pixels_written(batches_dir):
    dataset = load_dataset(batches_dir)
    (x_train, y_train), (x_test, y_test) = _expected()
    assert dataset.x_train.dtype == np.uint8 and dataset.x_train.shape == (200, 32, 32, 3)
    np.testing.assert_array_equal(dataset.x_train, x_train)
    np.testing.assert_array_equal(dataset.y_train, y_train)
    np.testing.assert_array_equal(dataset.x_test, x_test)
    np.testing.assert_array_equal(dataset.y_test, y_test)
    assert dataset.class_names == CLASS_NAMES


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


def test_stratified_subset_equal_per_class_and_fixed_by_seed():
    labels = np.repeat(np.arange(10), 50)
    chosen = stratified_subset(labels, 100, seed=3)
    assert len(chosen) == 100 and len(set(chosen)) == 100
    assert np.bincount(labels[chosen], minlength=10).tolist() == [10] * 10
    np.testing.assert_array_equal(chosen, stratified_subset(labels, 100, seed=3))
    assert not np.array_equal(chosen, stratified_subset(labels, 100, seed=4))


def test_a_stratified_subset_gives_a_short_class_all_it_has_and_shares_the_rest():
    labels = np.array([0] * 3 + [1] * 50 + [2] * 50)
    counts = np.bincount(labels[stratified_subset(labels, 31, seed=0)], minlength=3)
    assert counts.sum() == 31 and counts[0] == 3 and abs(counts[1] - counts[2]) <= 1


@pytest.mark.parametrize("size", [0, 501])
def test_a_stratified_subset_must_have_between_one_and_all_images(size):
    with pytest.raises(ValueError, match="between 1 and 500"):
        stratified_subset(np.repeat(np.arange(10), 50), size, seed=0)


def test_held_out_images_are_the_same_for_every_run_equal_per_class_and_never_trained_on(batches_dir):
    data = load_dataset(str(batches_dir))
    held = held_out(data.y_train, 50)
    np.testing.assert_array_equal(held, held_out(data.y_train, 50))  # whatever the run's seed
    assert np.bincount(data.y_train[held], minlength=10).tolist() == [5] * 10
    x_kept, y_kept = training_set(data, 50)
    x_held, y_held = evaluation_set(data, 50)
    assert len(y_kept) + len(y_held) == len(data.y_train)
    np.testing.assert_array_equal(y_held, data.y_train[held])
    kept = {image.tobytes() for image in x_kept}
    assert not kept & {image.tobytes() for image in x_held}  # never trained on
    assert len(kept | {image.tobytes() for image in x_held}) == len(data.y_train)  # and none lost
    # None held out: the training set to train on, the test set to test on.
    assert training_set(data, 0)[0] is data.x_train and evaluation_set(data, 0)[0] is data.x_test
    with pytest.raises(DataError, match=r"leave none of the .* training images to train on: hold out fewer"):
        held_out(data.y_train, len(data.y_train))


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
