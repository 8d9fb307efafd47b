"""cifar.errors: the family a caller catches as one class, and `os_errors_as`, which words an
OSError as what failed, the system's reason with its file, and what to do."""

from __future__ import annotations

import errno
import os

import pytest

from cifar.errors import (
    CifarError,
    ConfigError,
    DataError,
    ImageError,
    RunError,
    TrainingFailed,
    os_errors_as,
    os_reason,
)


def test_every_error_for_a_user_is_a_cifar_error_and_a_config_error_a_value_error_too():
    for kind in (ConfigError, DataError, RunError, ImageError, TrainingFailed):
        assert issubclass(kind, CifarError)
    assert issubclass(ConfigError, ValueError)
    assert not issubclass(RunError, ValueError) and not issubclass(CifarError, OSError)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (OSError(errno.EROFS, "Read-only file system", "runs/x/stop"), "Read-only file system: runs/x/stop"),
        (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
        (OSError("the disk went away"), "the disk went away"),
        (FileNotFoundError(), "FileNotFoundError"),
    ],
)
def test_the_reason_is_what_the_system_said_and_of_which_file(error, words):
    assert os_reason(error) == words


def test_an_oserror_becomes_the_kind_asked_for_in_three_parts():
    with pytest.raises(RunError) as caught, os_errors_as(RunError, "Could not delete run x", "check the folder."):
        raise PermissionError(errno.EACCES, "Permission denied", "runs/x")
    assert str(caught.value) == "Could not delete run x (Permission denied: runs/x): check the folder."
    assert isinstance(caught.value.__cause__, PermissionError)  # the traceback keeps the original


def test_a_real_missing_file_is_named_with_the_operating_systems_words(tmp_path):
    missing = tmp_path / "nowhere" / "config.json"
    with pytest.raises(DataError) as caught, os_errors_as(DataError, "Could not read the data", "download it again."):
        missing.read_text()
    reason = os.strerror(errno.ENOENT)  # "No such file or directory"
    assert str(caught.value) == f"Could not read the data ({reason}: {missing}): download it again."


def test_a_subclass_of_oserror_is_caught_too(tmp_path):
    not_a_folder = tmp_path / "runs"
    not_a_folder.write_text("a file")
    with pytest.raises(RunError) as caught, os_errors_as(RunError, "Could not list the runs", "check the folder."):
        list(not_a_folder.iterdir())
    reason = os.strerror(errno.ENOTDIR)  # "Not a directory"
    assert str(caught.value) == f"Could not list the runs ({reason}: {not_a_folder}): check the folder."


@pytest.mark.parametrize("error", [ValueError("bad value"), KeyError("k"), RunError("already worded")])
def test_other_errors_pass_through_untouched(error):
    with pytest.raises(type(error)) as caught, os_errors_as(ConfigError, "what", "advice"):
        raise error
    assert caught.value is error


def test_a_block_that_does_not_fail_gives_its_value():
    with os_errors_as(RunError, "what", "advice"):
        value = 6 * 7
    assert value == 42
