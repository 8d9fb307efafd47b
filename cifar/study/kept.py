"""What the study works out slowly (a feature map, a robustness curve) kept in the cache folder.

Kept under `CIFAR_CACHE_DIR/study/<run>/`, never in the run's own folder: reading a run never
writes there, and the runs folder may be read-only. Each file's name carries the epoch and a
digest of that epoch's weights file, so a network written again (a run continued, a run
deleted and made anew under the same id) is never answered from an old file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cifar.atomic import NUMPY_READS, write_atomic, write_json_atomic
from cifar.data.cache import cache_dir
from cifar.errors import RunError, os_errors_as
from cifar.runs.run import Run

STUDY_FOLDER = "study"
_VERSION = 1  # bumped whenever what a kept file holds changes, so that old ones are not read
_DIGEST_CHUNK = 1 << 20


def weights_digest(run: Run, epoch: int) -> str:
    """A digest of the file that holds the network of `epoch`: its kept weights, or model.keras.

    Raises:
        RunError: the file is gone or cannot be read (the run was deleted meanwhile).
    """
    path = run.files.weights_file(epoch) if epoch in run.weight_epochs() else run.files.model
    problem = f"Run {run.id}'s network of epoch {epoch} cannot be read"
    with os_errors_as(RunError, problem, "choose another epoch"):
        stat = path.stat()
        return _digest(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _digest(path: str, written_ns: int, size: int) -> str:
    # Keyed on when the file was written and its size too: a page that lists thirty runs reads
    # each weights file once, not on every rerun, and a file written again is read again.
    digest = hashlib.sha256(f"v{_VERSION}".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(_DIGEST_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def images_digest(images: np.ndarray) -> str:
    """A digest of the images a result was worked out on: the same run tested on another copy
    of CIFAR-10 (the JPEG one, the originals) is worked out anew."""
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]


def kept_file(run: Run, epoch: int, kind: str, detail: str, suffix: str) -> Path:
    """Where a result of `kind` (with `detail`: its layer, sample…) for `epoch` of `run` is kept."""
    safe_detail = "".join(c if c.isalnum() or c in "-_." else "_" for c in detail)
    name = f"{kind}-e{epoch}-{safe_detail}-{weights_digest(run, epoch)}{suffix}"
    return cache_dir() / STUDY_FOLDER / run.id / name


def read_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays kept in `path`, or None when there are none or the file is damaged."""
    try:
        with NUMPY_READS, np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def keep_arrays(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Keep `arrays` in `path`, whole or not at all; False when the cache cannot be written
    (the result is still shown: only the second look is slower)."""

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    try:
        write_atomic(path, write)
    except OSError:
        return False
    return True


def read_record(path: Path) -> dict[str, Any] | None:
    """The JSON record kept in `path`, or None when there is none or it is damaged."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def keep_record(path: Path, record: dict[str, Any]) -> bool:
    """Keep a JSON `record` in `path`; False when the cache cannot be written."""
    try:
        write_json_atomic(path, record)
    except OSError:
        return False
    return True
