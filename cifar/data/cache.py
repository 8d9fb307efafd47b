"""Decoded datasets kept as uncompressed .npz files, one per source, keyed by the source's files.

The folder is ``CIFAR_CACHE_DIR``, else ``~/.cache/cifar-lab``. A source whose files change
gets a new key, so its cache is rebuilt; a damaged cache file reads as no cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from cifar.atomic import NUMPY_READS
from cifar.data.alignment import aligned_empty
from cifar.data.dataset import Dataset

# Bumped whenever the cached layout or decoding changes, so old caches are not trusted.
_CACHE_VERSION = 1
_READ_CHUNK = 8 << 20  # read the cache in pieces: a whole-array read would hold a second copy
_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def cache_dir() -> Path:
    """The folder that holds the cache files."""
    return Path(os.environ.get("CIFAR_CACHE_DIR") or Path.home() / ".cache" / "cifar-lab")


def cache_file(source: Path) -> Path:
    """Where the decoded `source` is kept."""
    return cache_dir() / f"{source_key(source)}.npz"


def source_key(source: Path) -> str:
    """A digest of the source's path, and of every file's name, size and modification time."""
    digest = hashlib.sha256(f"v{_CACHE_VERSION}:{source}".encode())
    if source.is_file():
        stat = source.stat()
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    else:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            for name in sorted(filenames):
                stat = os.stat(os.path.join(dirpath, name))
                relative = os.path.relpath(os.path.join(dirpath, name), source)
                digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def read(stored: Path, source: str) -> Dataset | None:
    """The dataset kept in `stored`.

    Args:
        stored: a cache file, as `cache_file` names it.
        source: where the data came from, in words, for `Dataset.source`.

    Returns:
        The dataset, every array starting on an alignment boundary; None when `stored` does
        not exist or is damaged.
    """
    if not stored.exists():
        return None
    try:
        with zipfile.ZipFile(stored) as archive:
            arrays = {name: _read_npz_member(archive, name) for name in _ARRAYS}
            names = tuple(str(n) for n in _read_npz_member(archive, "class_names"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return Dataset(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], names, source)


def write(stored: Path, dataset: Dataset) -> None:
    """Keep `dataset` in `stored`, atomically; a cache that cannot be written is skipped.

    Args:
        stored: a cache file, as `cache_file` names it.
        dataset: what to keep.
    """
    try:
        stored.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=stored.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as handle:
            np.savez(
                handle,
                x_train=dataset.x_train,
                y_train=dataset.y_train,
                x_test=dataset.x_test,
                y_test=dataset.y_test,
                class_names=np.asarray(dataset.class_names),
            )
        os.replace(temporary, stored)
    except OSError:
        # A cache that cannot be written only costs time on the next load.
        if "temporary" in locals() and os.path.exists(temporary):
            os.unlink(temporary)


def _read_npz_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """One array of an uncompressed .npz, read in pieces straight into an aligned array."""
    with archive.open(f"{name}.npy") as handle:
        version = np.lib.format.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unsupported .npy version {version}")
        with NUMPY_READS:
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(handle)
        if fortran or dtype.hasobject:
            raise ValueError("the cache holds an array in a layout it never writes")
        array = aligned_empty(shape, dtype)
        view = memoryview(array.reshape(-1).view(np.uint8))
        filled = 0
        while filled < len(view):
            got = handle.readinto(view[filled : filled + _READ_CHUNK])
            if not got:
                raise ValueError(f"the cached {name} is truncated")
            filled += got
        return array
