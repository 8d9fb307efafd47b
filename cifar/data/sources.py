"""Where a load finds its data, which format a source is in, Keras' download, and the checks
every decoded source passes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cifar.data import batches, cache, image_tree
from cifar.data.dataset import ARCHIVE_NAME, CLASS_NAMES, Dataset, Split, UnusableSource
from cifar.data.progress import ProgressCallback
from cifar.errors import DataError

# Where Keras' own download unpacks the batches under $KERAS_HOME/datasets: Keras 3, then Keras 2.
_KERAS_FOLDERS = ("cifar-10-batches-py-target", "cifar-10-batches-py")


def find_source(path: str | os.PathLike | None = None) -> Path | None:
    """The local copy a load reads: `path`, else `CIFAR10_DIR`, else a copy already downloaded.

    Args:
        path: an archive, batches folder or image tree; None looks further.

    Returns:
        The copy, resolved; None when there is none on this machine (only a download is left).

    Raises:
        DataError: `path` or `CIFAR10_DIR` names something that does not exist.
    """
    if path is None and os.environ.get("CIFAR10_DIR"):
        source = Path(os.environ["CIFAR10_DIR"]).expanduser()
        if not source.exists():
            raise UnusableSource(f"CIFAR10_DIR is set to {source}, which does not exist.")
        return source.resolve()
    if path is not None:
        source = Path(path).expanduser()
        if not source.exists():
            raise UnusableSource(f"No CIFAR-10 data at {source}: the path does not exist.")
        return source.resolve()
    return downloaded_archive() or keras_copy()


def downloaded_archive() -> Path | None:
    """The official archive that `cifar.data.download` put into the cache folder, if it is there."""
    archive = cache.cache_dir() / ARCHIVE_NAME
    return archive.resolve() if archive.is_file() else None


def keras_copy() -> Path | None:
    """The batches that an earlier `keras.datasets.cifar10.load_data()` left on this machine."""
    datasets = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"
    for name in _KERAS_FOLDERS:
        if (datasets / name).is_dir():
            found = batches.find_folder(datasets / name)
            if found is not None:
                return found.resolve()
    return None


def decode(source: Path, on_progress: ProgressCallback | None = None) -> Dataset:
    """Decode a local copy: an archive, a batches folder or an image tree, tried in that order.

    Args:
        source: an existing file or folder, resolved.
        on_progress: called now and then with how far decoding has come.

    Returns:
        The dataset, checked and uint8 throughout.

    Raises:
        DataError: `source` holds none of the formats, or what it holds is malformed.
    """
    if source.is_file():
        if source.name.endswith((".tar.gz", ".tgz", ".tar")):
            train, test = batches.read_archive(source, on_progress)
            return checked(train, test, CLASS_NAMES, str(source))
        raise UnusableSource(f"{source} is a file but not a .tar.gz archive.")
    folder = batches.find_folder(source)
    if folder is not None:
        train, test = batches.read_folder(folder, on_progress)
        return checked(train, test, CLASS_NAMES, str(source))
    root = image_tree.find_root(source)
    if root is not None:
        train, test, class_names = image_tree.read(root, on_progress)
        return checked(train, test, class_names, str(root))
    raise UnusableSource(
        f"{source} holds neither CIFAR-10 python batches (data_batch_1 ... test_batch) nor "
        "an image tree with train/ and test/ folders."
    )


def from_keras() -> Dataset:
    """CIFAR-10 from `keras.datasets.cifar10.load_data()`, which downloads it once into ~/.keras.

    Returns:
        The dataset, checked and uint8 throughout.

    Raises:
        DataError: the download failed; the message says where else to get the data.
    """
    import keras  # imported here: a local source should not pay for TensorFlow

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as error:  # Keras raises a bare Exception("URL fetch failure ...")
        raise UnusableSource(
            f"CIFAR-10 is not on this machine and could not be downloaded ({type(error).__name__}: {str(error)[:200]})."
        ) from error
    return checked((x_train, y_train.reshape(-1)), (x_test, y_test.reshape(-1)), CLASS_NAMES, "Keras download")


def checked(train: Split, test: Split, class_names: tuple[str, ...], source: str) -> Dataset:
    """A Dataset of the decoded splits, once their shapes and labels hold.

    Args:
        train: images (N, 32, 32, 3) and labels (N,) for training.
        test: the same for testing.
        class_names: what each label names; labels index this.
        source: where the data came from, in words.

    Returns:
        The dataset, images C-ordered, everything uint8.

    Raises:
        DataError: images that are not (N, 32, 32, 3), a split with more or fewer labels than
            images, or a label out of range.
    """
    for split, (x, y) in (("train", train), ("test", test)):
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
            raise DataError(f"{source}: {split} images have shape {x.shape}; expected (N, 32, 32, 3).")
        if len(x) != len(y):
            raise DataError(f"{source}: {split} has {len(x)} images but {len(y)} labels.")
        y_int = np.asarray(y).astype(np.int64)
        bad = np.flatnonzero((y_int < 0) | (y_int >= len(class_names)))
        if bad.size:
            raise DataError(
                f"{source}: {split} label {y_int[bad[0]]} (image {bad[0]}) is out of range; "
                f"labels must be 0 to {len(class_names) - 1}."
            )
    (x_train, y_train), (x_test, y_test) = train, test
    return Dataset(
        np.ascontiguousarray(x_train, dtype=np.uint8),
        np.asarray(y_train, dtype=np.uint8),
        np.ascontiguousarray(x_test, dtype=np.uint8),
        np.asarray(y_test, dtype=np.uint8),
        tuple(class_names),
        source,
    )
