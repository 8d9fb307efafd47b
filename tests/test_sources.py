"""cifar/data/sources.py: where a load finds its data (a path, `CIFAR10_DIR`, the downloaded
archive, an earlier Keras download), which format a source is decoded as, Keras' download
(replaced here: nothing goes online), and the checks every decoded source passes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from synthetic import make_images, write_archive, write_batches

from cifar.data import CLASS_NAMES, DataError, UnusableSource, cache, download, find_source, sources

pytestmark = pytest.mark.usefixtures("nothing_reaches_the_internet")


@pytest.fixture
def keras_datasets(tmp_path):
    """The datasets folder of KERAS_HOME, which nothing_reaches_the_internet points into tmp_path."""
    return tmp_path / "keras-home" / "datasets"


def _put_downloaded_archive():
    cache.cache_dir().mkdir(parents=True, exist_ok=True)
    return write_archive(download.archive_path())


def _assert_the_synthetic_batches(dataset, train=200, test=100) -> None:
    (x_train, y_train), (x_test, y_test) = make_images(train, seed=1), make_images(test, seed=2)
    for got, expected in ((dataset.x_train, x_train), (dataset.y_train, y_train), (dataset.x_test, x_test)):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(dataset.y_test, y_test)
    assert dataset.class_names == CLASS_NAMES


# Where a load finds its data.


def test_environment_variable_is_a_source(batches_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    assert find_source() == batches_dir.resolve()


def test_environment_variable_comes_before_the_downloaded_archive(batches_dir, monkeypatch):
    _put_downloaded_archive()
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    assert find_source() == batches_dir.resolve()


def test_a_path_given_comes_before_the_environment_variable(batches_dir, tree_dir, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(batches_dir))
    assert find_source(tree_dir) == tree_dir.resolve()


def test_a_path_given_is_expanded_and_resolved(batches_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "link").symlink_to(batches_dir)
    assert find_source("~/link") == batches_dir.resolve()


def test_a_path_that_does_not_exist_is_refused(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        find_source(tmp_path / "nowhere")


def test_an_environment_variable_naming_nothing_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(UnusableSource, match=r"CIFAR10_DIR is set to .*nowhere, which does not exist") as caught:
        find_source()
    assert caught.value.problem.endswith("which does not exist.")


def test_the_downloaded_archive_comes_before_an_earlier_keras_download(keras_datasets):
    write_batches(keras_datasets / "cifar-10-batches-py")
    archive = _put_downloaded_archive()
    assert sources.downloaded_archive() == archive.resolve()
    assert find_source() == archive.resolve()


def test_a_folder_with_the_archive_name_is_no_downloaded_archive():
    download.archive_path().mkdir(parents=True)
    assert sources.downloaded_archive() is None


@pytest.mark.parametrize(
    "inside",
    [
        pytest.param("cifar-10-batches-py-target/cifar-10-batches-py", id="keras-3"),
        pytest.param("cifar-10-batches-py", id="keras-2"),
    ],
)
def test_an_earlier_keras_download_is_found_in_either_keras_layout(keras_datasets, inside):
    folder = write_batches(keras_datasets / inside, train=20, test=10)
    assert sources.keras_copy() == folder.resolve()
    assert find_source() == folder.resolve()


def test_a_keras_folder_without_batches_is_not_a_copy(keras_datasets):
    (keras_datasets / "cifar-10-batches-py-target").mkdir(parents=True)
    assert sources.keras_copy() is None and find_source() is None


# Which format a source is decoded as.


def test_an_archive_decodes_as_the_batches_it_holds(tmp_path):
    archive = write_archive(tmp_path / "cifar-10-python.tar.gz")
    dataset = sources.decode(archive)
    _assert_the_synthetic_batches(dataset)
    assert dataset.source == str(archive)


def test_a_batches_folder_and_its_parent_decode_as_the_batches(batches_dir):
    for source in (batches_dir, batches_dir.parent):
        dataset = sources.decode(source)
        _assert_the_synthetic_batches(dataset)
        assert dataset.source == str(source)


def test_an_image_tree_decodes_with_its_root_as_the_source(tree_dir):
    dataset = sources.decode(tree_dir.parent)
    assert dataset.source == str(tree_dir)
    assert len(dataset.y_train) == 200 and len(dataset.y_test) == 100 and dataset.class_names == CLASS_NAMES


def test_decoding_passes_its_progress_on(tree_dir):
    seen = []
    sources.decode(tree_dir, seen.append)
    assert seen and seen[-1].done == seen[-1].total == 300


def test_a_file_that_is_not_an_archive_is_refused_by_its_name(tmp_path):
    photo = tmp_path / "cifar.zip"
    photo.write_bytes(b"PK")
    with pytest.raises(UnusableSource, match=r"cifar\.zip is a file but not a \.tar\.gz archive"):
        sources.decode(photo)


def test_a_folder_of_neither_format_says_what_it_lacks(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(UnusableSource, match=r"holds neither CIFAR-10 python batches .* nor an image tree"):
        sources.decode(tmp_path)


def test_a_label_out_of_range_is_named_with_its_value(tmp_path):
    folder = write_batches(tmp_path / "b", train=20, test=10)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}, handle)
    with pytest.raises(DataError, match="label 12"):
        sources.decode(folder)


# Keras' download, replaced by a stand-in: nothing here goes online.


def test_offline_without_local_copy_says_what_to_do(monkeypatch):
    import keras

    def offline():
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/...: None -- [Errno -3]")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(DataError) as caught:
        sources.from_keras()
    message = str(caught.value)
    assert "CIFAR10_DIR" in message and "cifar-10-python.tar.gz" in message
    assert "could not be downloaded (Exception: URL fetch failure" in message


def test_keras_column_labels_become_a_flat_uint8_vector(monkeypatch):
    import keras

    (x_train, y_train), (x_test, y_test) = make_images(20, seed=1), make_images(10, seed=2)
    columns = ((x_train, y_train.astype(np.int64).reshape(-1, 1)), (x_test, y_test.astype(np.int64).reshape(-1, 1)))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: columns)
    dataset = sources.from_keras()
    assert dataset.y_train.shape == (20,) and dataset.y_train.dtype == np.uint8
    np.testing.assert_array_equal(dataset.y_test, y_test)
    np.testing.assert_array_equal(dataset.x_train, x_train)
    assert dataset.source == "Keras download" and dataset.class_names == CLASS_NAMES


# The checks every decoded source passes.


def _split(count: int, seed: int = 1):
    return make_images(count, seed)


def test_checked_splits_become_c_ordered_uint8_arrays_with_the_same_values():
    x_train, y_train = _split(12)
    strided = np.repeat(x_train, 2, axis=0)[::2]  # the same images, but not C-ordered: checked must copy them
    labels = y_train.astype(np.int64)
    dataset = sources.checked((strided, labels), _split(4, seed=2), list("abcdefghij"), "s")
    assert dataset.x_train.flags.c_contiguous and dataset.x_train.dtype == np.uint8
    assert dataset.y_train.dtype == np.uint8 and dataset.class_names == tuple("abcdefghij")
    np.testing.assert_array_equal(dataset.x_train, x_train)
    np.testing.assert_array_equal(dataset.y_train, y_train)


def _images(*shape: int) -> np.ndarray:
    return np.zeros(shape, np.uint8)


@pytest.mark.parametrize(
    ("train", "message"),
    [
        pytest.param((_images(3, 32, 32), np.zeros(3)), r"train images have shape \(3, 32, 32\)", id="grey"),
        pytest.param((_images(3, 28, 28, 3), np.zeros(3)), r"shape \(3, 28, 28, 3\)", id="28x28"),
        pytest.param((_images(3, 32, 32, 3), np.zeros(2)), "train has 3 images but 2 labels", id="count"),
        pytest.param((_images(2, 32, 32, 3), np.array([0, -1])), r"train label -1 \(image 1\)", id="negative"),
        pytest.param((_images(2, 32, 32, 3), np.array([10, 0])), r"label 10 \(image 0\)", id="too-big"),
    ],
)
def test_a_split_of_the_wrong_shape_or_labels_is_refused_in_words(train, message):
    with pytest.raises(DataError, match=message) as caught:
        sources.checked(train, _split(4), CLASS_NAMES, "the-source")
    assert str(caught.value).startswith("the-source: ")


def test_labels_are_checked_against_the_number_of_classes_given():
    x, y = _split(10)  # labels 0 to 9
    with pytest.raises(DataError, match="labels must be 0 to 2"):
        sources.checked((x, y), (x[:3], y[:3]), ("a", "b", "c"), "s")
