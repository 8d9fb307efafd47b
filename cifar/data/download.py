"""The official CIFAR-10 archive, downloaded into the cache folder: whole and checked, or not at all.

The archive is written to a temporary file beside its final name and renamed into place only
once every byte has arrived and its MD5 checksum is the published one, so a load never meets
half an archive. A failed or interrupted download deletes its temporary file.
`cifar.data.load_dataset()` reads the archive from there before it turns to Keras' download.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from cifar.data import cache
from cifar.data.dataset import ARCHIVE_NAME, OFFICIAL_ARCHIVE_URL, OFFICIAL_PAGE_URL
from cifar.data.progress import ProgressCallback, Tracker
from cifar.errors import DataError

ARCHIVE_URL = OFFICIAL_ARCHIVE_URL
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"  # as published on OFFICIAL_PAGE_URL
ARCHIVE_MB = 163  # its size, as the published page and the download button say it
ONLINE_TIMEOUT_SECONDS = 3.0  # how long the online check waits for an answer
ONLINE_KEPT_SECONDS = 60.0  # how long its answer is kept: a page reruns on every click
_CHUNK = 64 << 10
_PART_SUFFIX = ".part"
_STALE_PART_SECONDS = 3600.0  # a temporary file this old belongs to a process that died mid-way
_online_answers: dict[str, tuple[float, bool]] = {}


def archive_path() -> Path:
    """Where the downloaded archive is kept: the cache folder (`CIFAR_CACHE_DIR`)."""
    return cache.cache_dir() / ARCHIVE_NAME


def download_archive(
    on_progress: ProgressCallback | None = None,
    url: str | None = None,
    md5: str | None = None,
    timeout_seconds: float = 30.0,
    report_every_seconds: float = 0.1,
) -> Path:
    """Download the official archive into the cache folder, whole and checked.

    Args:
        on_progress: called now and then, and at the end, with the bytes received so far.
        url: where to download from; None: `ARCHIVE_URL` (read at call time).
        md5: the hex MD5 the file must have; None: `ARCHIVE_MD5`.
        timeout_seconds: how long to wait for the server, to connect and for each read.
        report_every_seconds: the least time between two progress reports.

    Returns:
        The archive's path, `archive_path()`.

    Raises:
        DataError: the server could not be reached (the machine seems offline), answered with
            an error, or the connection dropped; the file is not the official archive; or it
            could not be written. Nothing is left behind; the message says what to do.
    """
    url, md5 = url or ARCHIVE_URL, (md5 or ARCHIVE_MD5).lower()
    target = archive_path()
    response = _connect(url, timeout_seconds)
    temporary = None
    try:
        with response:
            target.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_parts(target.parent)
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{ARCHIVE_NAME}.", suffix=_PART_SUFFIX)
            with os.fdopen(fd, "wb") as handle:
                digest = _receive(response, handle, on_progress, report_every_seconds)
                handle.flush()
                os.fsync(handle.fileno())
        if digest != md5:
            raise DataError(
                f"The downloaded file is not the official {ARCHIVE_NAME}: its MD5 checksum is {digest}, "
                f"not {md5}. It was deleted; try the download again."
            )
        os.replace(temporary, target)
        temporary = None
    except OSError as error:
        raise DataError(
            f"Could not save the download in {target.parent} ({error.strerror or error}). Make room for "
            f"{ARCHIVE_MB} MB there, or set CIFAR_CACHE_DIR to a folder with room and restart the app."
        ) from error
    finally:
        # Whatever stopped it (an error, a closed page, Ctrl-C), half an archive is not kept.
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return target


def is_online(url: str | None = None, timeout_seconds: float = ONLINE_TIMEOUT_SECONDS) -> bool:
    """Whether the server of `url` answers; the answer is kept for `ONLINE_KEPT_SECONDS`.

    Args:
        url: the address to try; None: `ARCHIVE_URL` (read at call time).
        timeout_seconds: the longest this call waits, name lookup included.

    Returns:
        True when the server answered at all (even with an error status), else False.
    """
    url = url or ARCHIVE_URL
    kept = _online_answers.get(url)
    if kept is not None and time.monotonic() - kept[0] < ONLINE_KEPT_SECONDS:
        return kept[1]
    answers: list[bool] = []
    # In a thread, so that a slow name lookup (which no socket timeout covers) cannot hold the page.
    probe = threading.Thread(target=lambda: answers.append(_answers(url, timeout_seconds)), daemon=True)
    probe.start()
    probe.join(timeout_seconds)
    online = bool(answers and answers[0])
    _online_answers[url] = (time.monotonic(), online)
    return online


def offline_advice() -> str:
    """What to do without a connection, in words, for a message."""
    return (
        f"On a machine that is online, download {ARCHIVE_NAME} ({ARCHIVE_MB} MB) from {OFFICIAL_PAGE_URL}; "
        f"then put it, unchanged, in {archive_path().parent} (the app finds it there), or set CIFAR10_DIR "
        "to where it is and restart the app."
    )


def _answers(url: str, timeout_seconds: float) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_seconds):
            return True
    except urllib.error.HTTPError:
        return True  # the server answered: the machine is online
    except (OSError, ValueError, http.client.HTTPException):
        return False


def _connect(url: str, timeout_seconds: float) -> http.client.HTTPResponse:
    host = urllib.parse.urlsplit(url).hostname or url
    try:
        return urllib.request.urlopen(url, timeout=timeout_seconds)
    except urllib.error.HTTPError as error:
        raise DataError(
            f"The download of {ARCHIVE_NAME} failed: {host} answered {error.code} {error.reason}. "
            f"Try again later. {offline_advice()}"
        ) from error
    except (OSError, ValueError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise DataError(
            f"Could not reach {host} ({reason}): this machine seems to be offline. {offline_advice()}"
        ) from error


def _receive(
    response: http.client.HTTPResponse,
    handle: BinaryIO,
    on_progress: ProgressCallback | None,
    report_every_seconds: float,
) -> str:
    """Copy the response into `handle`; its MD5 in hex. Raises DataError when it stops short."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    tracker = Tracker("Downloading CIFAR-10", total, "bytes", on_progress, 1, report_every_seconds)
    digest = hashlib.md5(usedforsecurity=False)
    while True:
        try:
            # read1: whatever has arrived, so that a slow line still moves the progress bar.
            chunk = response.read1(_CHUNK)
        except (OSError, http.client.HTTPException) as error:
            raise _stopped(tracker, f"{type(error).__name__}: {error}") from error
        if not chunk:
            break
        handle.write(chunk)
        digest.update(chunk)
        tracker.advance(len(chunk))
    if total is not None and tracker.done < total:
        raise _stopped(tracker, "the server closed the connection")
    tracker.finish()
    return digest.hexdigest()


def _stopped(tracker: Tracker, reason: str) -> DataError:
    of_total = f" of {tracker.total / (1 << 20):.1f}" if tracker.total else ""
    return DataError(
        f"The download stopped after {tracker.done / (1 << 20):.1f}{of_total} MB ({reason}), so the "
        "partial file was deleted. Check the connection and try the download again."
    )


def _remove_stale_parts(folder: Path) -> None:
    """Delete temporary files that a killed download left; a live download's file is fresh."""
    for part in folder.glob(f".{ARCHIVE_NAME}.*{_PART_SUFFIX}"):
        with contextlib.suppress(OSError):
            if time.time() - part.stat().st_mtime > _STALE_PART_SECONDS:
                part.unlink()
