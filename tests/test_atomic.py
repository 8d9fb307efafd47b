"""cifar.atomic: whole-file writes that leave the old file or the new one, never half of either,
and no temporary file behind; `read_json`'s None for a missing or damaged file."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from cifar.atomic import read_json, save_npy_atomic, write_atomic, write_bytes_atomic, write_json_atomic


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_the_bytes_land_whole_under_the_name_and_nothing_else_is_left(tmp_path):
    path = tmp_path / "status.json"
    write_bytes_atomic(path, b"\x00first\xff")
    write_bytes_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert sorted(os.listdir(tmp_path)) == ["status.json"]


def test_missing_folders_are_made(tmp_path):
    path = tmp_path / "runs" / "r1" / "predictions" / "epoch-001.npy"
    write_bytes_atomic(path, b"x")
    assert path.read_bytes() == b"x"


def test_while_the_new_file_is_written_readers_still_see_the_old_one(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"old model")
    seen = []

    def write(temporary):
        temporary.write_bytes(b"new mo")  # half written so far
        seen.append(path.read_bytes())
        with open(temporary, "ab") as handle:
            handle.write(b"del")

    write_atomic(path, write)
    assert seen == [b"old model"] and path.read_bytes() == b"new model"


def test_the_temporary_file_is_hidden_beside_the_target_and_keeps_the_suffix(tmp_path):
    path = tmp_path / "model.keras"
    names = []
    write_atomic(path, lambda temporary: (names.append(temporary), temporary.write_bytes(b"m")), suffix=".keras")
    (temporary,) = names
    # Same folder: a rename is atomic only within one file system. Keras insists on `.keras`.
    assert temporary.parent == tmp_path and temporary.name.startswith(".model.keras.")
    assert temporary.name.endswith(".tmp.keras") and not temporary.exists()


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, failure):
    path = tmp_path / "history.json"
    path.write_bytes(b'{"epoch": [1]}\n')

    def write(temporary):
        temporary.write_bytes(b'{"epoch": [1, 2')
        raise failure

    with pytest.raises(type(failure)):
        write_atomic(path, write)
    assert path.read_bytes() == b'{"epoch": [1]}\n'
    assert os.listdir(tmp_path) == ["history.json"]


def test_a_failed_first_write_leaves_no_file_at_all(tmp_path):
    def write(temporary):
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        write_atomic(tmp_path / "labels.npy", write)
    assert os.listdir(tmp_path) == []


def test_a_written_file_is_readable_by_others_as_the_umask_allows(tmp_path):
    # mkstemp makes 0600, which would hide a run from another user's server.
    path = tmp_path / "status.json"
    write_bytes_atomic(path, b"{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_current_umask()


def test_json_is_written_indented_with_a_final_newline(tmp_path):
    path = tmp_path / "history.json"
    write_json_atomic(path, {"epoch": [1, 2], "name": "é"})
    assert path.read_bytes() == b'{\n  "epoch": [\n    1,\n    2\n  ],\n  "name": "\\u00e9"\n}\n'


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_json_that_is_not_json_is_refused_and_the_old_file_stays(tmp_path, bad):
    path = tmp_path / "history.json"
    path.write_text('{"loss": [2.3]}\n')
    with pytest.raises(ValueError):
        write_json_atomic(path, {"loss": [2.3, bad]})
    assert path.read_text() == '{"loss": [2.3]}\n' and os.listdir(tmp_path) == ["history.json"]


def test_read_json_gives_the_value_or_none_when_missing_damaged_or_a_folder(tmp_path):
    (tmp_path / "good.json").write_text('{"a": [1, null]}')
    (tmp_path / "torn.json").write_text('{"a": [1, nu')
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "folder.json").mkdir()
    assert read_json(tmp_path / "good.json") == {"a": [1, None]}
    for name in ("missing.json", "torn.json", "binary.json", "folder.json"):
        assert read_json(tmp_path / name) is None, name


def test_an_array_is_saved_under_its_exact_name_without_npy_appended(tmp_path):
    array = np.arange(12, dtype=np.float16).reshape(3, 4)
    path = tmp_path / "probabilities.bin"
    save_npy_atomic(path, array)
    assert os.listdir(tmp_path) == ["probabilities.bin"]
    with open(path, "rb") as handle:
        loaded = np.load(handle, allow_pickle=False)
    assert loaded.dtype == np.float16 and (loaded == array).all()


def test_an_array_that_would_need_pickle_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        save_npy_atomic(tmp_path / "labels.npy", np.array([{"a": 1}], dtype=object))
    assert os.listdir(tmp_path) == []


def test_json_written_reads_back_through_the_standard_library(tmp_path):
    value = {"state": "running", "pid": 12, "nested": {"x": [0.1, None, True]}}
    write_json_atomic(tmp_path / "s.json", value)
    assert json.loads((tmp_path / "s.json").read_text()) == value == read_json(tmp_path / "s.json")
