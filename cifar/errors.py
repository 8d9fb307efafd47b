"""The one family of errors this package raises for a user to read.

Every message says what was wrong and what to do, so a caller (a page, the command line)
shows it as it is and catches one class: `except CifarError as error: show(error)`.
"""

from __future__ import annotations


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


class ImageError(CifarError):
    """An image that cannot be used: names the file and says why."""


class TrainingFailed(CifarError):
    """Training cannot go on (it diverged, or a continued run met other data)."""
