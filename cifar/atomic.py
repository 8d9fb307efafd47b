"""Whole-file writes that a concurrent reader never sees half done, and the lock that reads of
NumPy files share."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

# NumPy reads a .npy header with ast.literal_eval, and CPython 3.11 keeps the AST constructor's
# recursion depth per interpreter, not per thread: two threads reading headers at once can raise
# "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905). Streamlit
# serves each session on a thread of its own, so every read of a .npy or .npz holds this lock.
NUMPY_READS = threading.Lock()

# Read once at import: os.umask can only be read by setting it, which races with threads.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_atomic(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Call `write(temporary_path)`, then rename the result onto `path`.

    The temporary file sits in the same folder (a rename is atomic only within one file
    system) and keeps `suffix`, for writers such as Keras that insist on an extension.
    On any failure the temporary file is removed and `path` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; readers may be other users
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    write_atomic(path, write)


def write_json_atomic(path: Path, value: Any) -> None:
    write_bytes_atomic(path, (json.dumps(value, indent=2, allow_nan=False) + "\n").encode())


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def save_npy_atomic(path: Path, array: Any) -> None:
    """np.save through an open handle: given a name, np.save would append its own `.npy`."""
    import numpy as np

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as handle:
            np.save(handle, array, allow_pickle=False)

    write_atomic(path, write)
