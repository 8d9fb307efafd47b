"""CIFAR-10 as uint8 arrays, from a local copy or from Keras' download.

Sources, in this order: an explicit path, the ``CIFAR10_DIR`` environment variable, the
official archive that ``download`` put into the cache folder, the batches an earlier Keras
download left in ``~/.keras``, then ``keras.datasets.cifar10.load_data()`` (downloads once
into ``~/.keras``; the command line's last resort, which the app never calls).

A local path may be the official ``cifar-10-python.tar.gz``, its unpacked
``cifar-10-batches-py/`` folder (both read in ``batches``), or an image-folder tree
``<root>/{train,test}/<class>/*.jpg`` (``image_tree``). Decoded arrays are cached
(``cache``) so that the next load of the same source is a file read; the cache is rebuilt
when the source changes.

Images stay uint8 (N, 32, 32, 3): 180 MB for all 60,000. Scaling to [0, 1] happens inside
the model, never as a float copy of the whole set (the tutorial's ``x / 255`` is 1.2 GB).
Arrays read from the cache start on the boundary that lets the trainer hand them to
TensorFlow without a second copy (``alignment``; cifar/training/fit.py).
"""

from __future__ import annotations

import os

import numpy as np

from cifar.data import cache, sources
from cifar.data.alignment import aligned, aligned_empty
from cifar.data.dataset import CLASS_NAMES, Dataset, UnusableSource
from cifar.data.progress import Progress, ProgressCallback
from cifar.data.sources import find_source
from cifar.errors import DataError

__all__ = [
    "CLASS_NAMES",
    "DataError",
    "Dataset",
    "Progress",
    "ProgressCallback",
    "UnusableSource",
    "aligned",
    "aligned_empty",
    "evaluation_set",
    "find_source",
    "held_out",
    "load_dataset",
    "needs_decoding",
    "stratified_subset",
    "training_set",
]


def load_dataset(path: str | os.PathLike | None = None, on_progress: ProgressCallback | None = None) -> Dataset:
    """Load CIFAR-10 from `path`, else `CIFAR10_DIR`, else a downloaded copy, else Keras' download.

    Args:
        path: the official archive, its unpacked batches folder, or an image-folder tree.
        on_progress: called now and then while a local copy is decoded (not when it comes
            from the decoded cache, nor from Keras' download).

    Returns:
        The dataset, uint8 throughout.

    Raises:
        DataError: the source is missing, malformed or unreachable; the message names the
            file and says what to do.
    """
    source = find_source(path)
    if source is None:
        return sources.from_keras()
    stored = cache.cache_file(source)
    dataset = cache.read(stored, str(source))
    if dataset is None:
        dataset = sources.decode(source) if on_progress is None else sources.decode(source, on_progress)
        cache.write(stored, dataset)
    return dataset


def needs_decoding(path: str | os.PathLike | None = None) -> bool:
    """Whether `load_dataset(path)` would decode a local copy, for want of a decoded cache.

    Args:
        path: as for `load_dataset`.

    Returns:
        True when the local copy it would read has no decoded cache yet; False when the cache
        is there, or when there is no local copy (Keras' download is not decoded here).

    Raises:
        DataError: `path` or `CIFAR10_DIR` names something that does not exist.
    """
    source = find_source(path)
    return source is not None and not cache.cache_file(source).exists()


# The held-out images are the same for every run and every seed: runs that choose settings are
# compared on the same images.
HOLDOUT_SEED = 5_000


def held_out(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` training images held out for validation (equal per class, sorted);
    none for 0.

    Raises:
        DataError: `count` leaves fewer than one training image.
    """
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    if count >= len(labels):
        raise DataError(
            f"{count:,} held-out images leave none of the {len(labels):,} training images to train on: hold out fewer."
        )
    return stratified_subset(labels, count, HOLDOUT_SEED)


def training_set(data: Dataset, holdout: int) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels a run trains on: the training set less the `holdout` held out."""
    if holdout <= 0:
        return data.x_train, data.y_train
    kept = np.setdiff1d(np.arange(len(data.y_train)), held_out(data.y_train, holdout), assume_unique=True)
    return data.x_train[kept], data.y_train[kept]


def evaluation_set(data: Dataset, holdout: int) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels a run is tested on after each epoch: the `holdout` training images
    held out, or with none held out the test set."""
    if holdout <= 0:
        return data.x_test, data.y_test
    chosen = held_out(data.y_train, holdout)
    return data.x_train[chosen], data.y_train[chosen]


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Indices of `size` images with (as near as possible) equal numbers per class.

    Args:
        labels: class index of every image.
        size: how many indices to return; at most len(labels).
        seed: fixes which images are chosen.

    Returns:
        Sorted indices into `labels`.

    Raises:
        ValueError: `size` is below 1 or above the number of images.
    """
    labels = np.asarray(labels)
    if not 1 <= size <= len(labels):
        raise ValueError(f"subset size must be between 1 and {len(labels)}; got {size}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    # Round-robin over classes: equal shares, and a class that runs short leaves its
    # remainder to the others instead of shrinking the subset.
    quota = {int(c): 0 for c in classes}
    remaining = size
    while remaining:
        open_classes = [i for i, c in enumerate(classes) if quota[int(c)] < len(by_class[i])]
        share, extra = divmod(remaining, len(open_classes))
        for rank, i in enumerate(open_classes):
            c = int(classes[i])
            take = min(share + (rank < extra), len(by_class[i]) - quota[c])
            quota[c] += take
            remaining -= take
    chosen = np.concatenate([by_class[i][: quota[int(c)]] for i, c in enumerate(classes)])
    return np.sort(chosen)
