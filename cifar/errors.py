"""The one family of errors this package raises for a user to read.

Every message says what was wrong and what to do, so a caller (a page, the command line)
shows it as it is and catches one class: `except CifarError as error: show(error)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class CifarError(Exception):
    """Something the user can put right; the message says what and how."""


class ConfigError(CifarError, ValueError):
    """A setting out of range or of the wrong kind: names the field, the value and what is allowed.

    Also a ValueError, as Python's own argument checks are.
    """


class DataError(CifarError):
    """The dataset could not be loaded: names the file and says where to get the data."""


class RunError(CifarError):
    """A run id that is malformed or names no run, or a run that cannot do what was asked."""


class NotAllowed(CifarError):
    """This person may not do this (another's run, a teacher's key, a class limit): says whose
    it is and who may."""


class SignInError(CifarError):
    """A sign-in that did not work: a wrong code, a name taken, a token that no longer holds."""


class ImageError(CifarError):
    """An image that cannot be used: names the file and says why."""


class TrainingFailed(CifarError):
    """Training cannot go on (it diverged, or a continued run met other data)."""


def os_reason(error: OSError) -> str:
    """What the operating system said, and of which file: "Read-only file system: runs/x/stop"."""
    reason = error.strerror or str(error) or type(error).__name__
    return f"{reason}: {error.filename}" if error.filename else reason


@contextlib.contextmanager
def os_errors_as(kind: type[CifarError], what: str, advice: str) -> Iterator[None]:
    """Within the block, an OSError (a full disk, a folder without permission) becomes `kind`,
    saying what failed, the system's reason and what to do: "Could not delete run x (Permission
    denied: runs/x): check that the runs folder is writable."."""
    try:
        yield
    except OSError as error:
        raise kind(f"{what} ({os_reason(error)}): {advice}") from error
