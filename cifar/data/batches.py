"""The official python format: ``data_batch_1`` ... ``data_batch_5`` and ``test_batch``, packed
in ``cifar-10-python.tar.gz`` or unpacked in ``cifar-10-batches-py/``.

Each batch is a Python 2 pickle of ``{b"data": uint8 array (N, 3072), b"labels": [int, ...]}``,
each row channel-first (1024 red, 1024 green, 1024 blue). A pickle can run any code it names,
so the batches are read by an unpickler that rebuilds numpy arrays and nothing else.
"""

from __future__ import annotations

import os
import pickle
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cifar.data.dataset import Split, UnusableSource
from cifar.data.progress import ProgressCallback, Tracker
from cifar.errors import DataError

_REPORT_SECONDS = 0.1  # how often unpacking reports its progress: smooth, yet few calls

# Everything a pickled numpy array refers to. The module of `_reconstruct` is numpy.core
# in pickles written by numpy 1 (the official batches) and numpy._core in those of numpy 2.
_ARRAY_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)


class _BatchUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, strings, numbers and numpy arrays; refuses every other global."""

    def __init__(self, handle: BinaryIO, file: Path):
        # The batches were written by Python 2: their strings are bytes, not text.
        super().__init__(handle, encoding="bytes")
        self.file = file

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ARRAY_GLOBALS:
            return super().find_class(module, name)
        raise UnusableSource(
            f"{self.file} is not a CIFAR-10 batch: its pickle calls for {module}.{name}, which a batch "
            "never needs and which could run code, so it was not loaded."
        )


def find_folder(folder: Path) -> Path | None:
    """`folder` or its cifar-10-batches-py/ when it holds batches; else None."""
    for candidate in (folder, folder / "cifar-10-batches-py"):
        if (candidate / "data_batch_1").is_file() or (candidate / "test_batch").is_file():
            return candidate
    return None


def read_archive(archive: Path, on_progress: ProgressCallback | None = None) -> tuple[Split, Split]:
    """The train and test splits of the official tar.gz archive.

    Args:
        archive: a tar or tar.gz holding the batch files, at any depth.
        on_progress: called now and then with the bytes of the archive unpacked so far.

    Returns:
        (images, labels) of the training batches, then of the test batch.

    Raises:
        DataError: the archive is unreadable, holds no batches, or a batch is malformed.
    """
    with tempfile.TemporaryDirectory(prefix="cifar-archive-") as scratch:
        try:
            with open(archive, "rb") as raw, tarfile.open(fileobj=raw) as tar:
                size = os.fstat(raw.fileno()).st_size
                tracker = Tracker(f"Unpacking {archive.name}", size, "bytes", on_progress, 1, _REPORT_SECONDS)
                found = 0
                # One pass, member by member: listing the members first would decompress it all twice.
                for member in tar:
                    if member.isfile() and Path(member.name).name.startswith(("data_batch_", "test_batch")):
                        # Flat names only: a member path can never write outside the scratch folder.
                        member.name = Path(member.name).name
                        tar.extract(member, scratch, filter="data")
                        found += 1
                    tracker.update(raw.tell())
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataError(f"{archive} is not a readable tar.gz archive: {error}") from error
        if not found:
            raise UnusableSource(f"{archive} has no CIFAR-10 batches (data_batch_1 ... test_batch) inside.")
        tracker.update(size)
        tracker.finish()
        return read_folder(Path(scratch))


def read_folder(folder: Path, on_progress: ProgressCallback | None = None) -> tuple[Split, Split]:
    """The train and test splits of an unpacked batches folder.

    Args:
        folder: holds data_batch_1 ... data_batch_N and test_batch.
        on_progress: called after each batch file with the bytes of the batches read so far.

    Returns:
        (images, labels) of the training batches in order, then of the test batch.

    Raises:
        DataError: a batch is missing or malformed.
    """
    train_files = sorted((p.name for p in folder.glob("data_batch_*")), key=lambda n: int(n.rsplit("_", 1)[1]))
    if not train_files:
        raise DataError(f"{folder} has no training batches (data_batch_1 ... data_batch_5).")
    files = [folder / name for name in [*train_files, "test_batch"]]
    total = sum(file.stat().st_size for file in files if file.is_file())
    tracker = Tracker("Reading the batches", total, "bytes", on_progress)
    splits = []
    for file in files:
        splits.append(read_batch(file))
        tracker.advance(file.stat().st_size)
    tracker.finish()
    train, test = splits[:-1], splits[-1]
    return (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])), test


def read_batch(file: Path) -> Split:
    """The images and labels of one batch file, unpickling nothing but numpy arrays.

    Args:
        file: a batch file such as data_batch_1.

    Returns:
        Images (N, 32, 32, 3) uint8 and their labels.

    Raises:
        DataError: the file is missing or malformed, or its pickle calls for anything but a
            numpy array (nothing it names is run).
    """
    if not file.is_file():
        raise DataError(f"{file} is missing: a CIFAR-10 batches folder needs data_batch_1 to 5 and test_batch.")
    try:
        with open(file, "rb") as handle:
            batch = _BatchUnpickler(handle, file).load()
        if not isinstance(batch, dict) or not {b"data", b"labels"} <= batch.keys():
            raise DataError(f"{file} is not a readable CIFAR-10 batch: it holds no b'data' and b'labels'.")
        data, labels = batch[b"data"], batch[b"labels"]
        images = data.reshape(data.shape[0], 3, 32, 32)
    except DataError:
        raise
    except Exception as error:  # damage shows as any of many errors, from pickle or from numpy
        raise DataError(f"{file} is not a readable CIFAR-10 batch: {error}") from error
    return images.transpose(0, 2, 3, 1).astype(np.uint8), np.asarray(labels)
