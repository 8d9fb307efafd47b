"""cifar.runs.status: a status file read leniently (older or newer versions' keys, nulls, missing
keys, JSON that is not an object, a damaged file) and written whole, as plain JSON."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from cifar.runs.status import DataInfo, RunStatus, now_iso, read_status, status_from_dict, write_status

# status.json as the version before issue 10 wrote it (tests/fixtures/runs-before-issue-10):
# no backend, host, who, queue_turn, machine or precision.
OLD_STATUS = """{
  "state": "finished", "name": "before-issue-10", "created": "2026-11-30T03:24:09.679+00:00",
  "created_unix": 1796009049.6796474, "queue_key": 1796009049679648216, "epoch": 2, "epochs": 2,
  "data_path": null, "pid": 2234, "pid_start": 30788, "started": "2026-11-30T03:24:09.682+00:00",
  "data": {"source": "tests/synthetic.py write_batches", "class_names": ["airplane", "automobile"],
           "train_images": 200, "test_images": 100},
  "ended": "2026-11-30T03:24:14.794+00:00"
}"""


def test_a_status_reads_leniently_and_round_trips(tmp_path):
    odd = status_from_dict({"state": "finished", "epoch": None, "start_epoch": None, "from_the_future": 1,
                            "data": {"source": "x", "class_names": ["a", "b"], "also_new": 2}})  # fmt: skip
    assert odd.state == "finished" and odd.epoch == 0 and odd.start_epoch == 0
    assert odd.data == DataInfo(source="x", class_names=("a", "b"))
    assert status_from_dict("not a dict") == RunStatus() and status_from_dict({"data": 3}).data is None
    assert read_status(tmp_path / "missing.json") == RunStatus()
    written = RunStatus(state="running", pid=12, data=DataInfo("y", ("cat",), 10, 5), resumed_from="r")
    write_status(tmp_path / "status.json", written)
    assert read_status(tmp_path / "status.json") == written


def test_an_older_versions_status_reads_with_defaults_for_what_it_lacks(tmp_path):
    path = tmp_path / "status.json"
    path.write_text(OLD_STATUS)
    status = read_status(path)
    assert status.state == "finished" and status.epoch == 2 and status.pid == 2234 and status.pid_start == 30788
    assert status.queue_key == 1796009049679648216  # a large int stays exact
    assert status.backend == "local" and status.host == "" and status.who == "" and status.queue_turn == 0
    assert status.data == DataInfo("tests/synthetic.py write_batches", ("airplane", "automobile"), 200, 100)
    assert status.live is False


def test_a_null_where_a_value_is_always_expected_reads_as_the_default():
    status = status_from_dict({"state": None, "who": None, "created_unix": None, "backend": None, "pid": None,
                               "epochs": None, "host": None, "queue_key": None})  # fmt: skip
    assert (status.state, status.who, status.created_unix, status.backend) == ("queued", "", 0.0, "local")
    assert (status.host, status.queue_key) == ("", 0)
    assert status.pid is None and status.epochs is None  # where None means "not yet", it stays


@pytest.mark.parametrize("value", [None, [], ["state", "running"], 3, "running", True])
def test_json_that_is_not_an_object_reads_as_a_new_queued_status(value):
    assert status_from_dict(value) == RunStatus() and status_from_dict(value).state == "queued"


@pytest.mark.parametrize("text", ["", '{"state": "runn', "\x00\x01", "{} {}", '{"state": "running",}'])
def test_a_damaged_file_reads_as_a_new_queued_status(tmp_path, text):
    path = tmp_path / "status.json"
    path.write_text(text)
    assert read_status(path) == RunStatus()


@pytest.mark.parametrize("data", [[1, 2], "cifar", 7])
def test_data_that_is_not_an_object_is_no_data(data):
    assert status_from_dict({"state": "finished", "data": data}).data is None


def test_data_without_class_names_has_none():
    assert status_from_dict({"data": {"source": "s", "class_names": None}}).data == DataInfo(source="s")
    assert status_from_dict({"data": {}}).data == DataInfo()


@pytest.mark.parametrize(
    ("state", "live"),
    [("queued", True), ("running", True), ("finished", False), ("stopped", False), ("failed", False),
     ("interrupted", False)],
)  # fmt: skip
def test_only_queued_and_running_are_live(state, live):
    assert RunStatus(state=state).live is live


def test_the_file_is_plain_json_with_every_field_and_class_names_as_a_list(tmp_path):
    path = tmp_path / "status.json"
    write_status(path, RunStatus(state="running", who="Ann", pid=7, data=DataInfo("s", ("cat", "dog"), 3, 2)))
    text = path.read_text()
    values = json.loads(text)
    assert text.startswith('{\n  "state": "running",\n') and text.endswith("}\n")
    assert values["data"] == {"source": "s", "class_names": ["cat", "dog"], "train_images": 3, "test_images": 2}
    assert values["who"] == "Ann" and values["pid"] == 7 and values["error"] is None
    assert list(values) == [
        "state", "name", "who", "owner", "created", "created_unix", "queue_key", "queue_turn", "backend", "cluster",
        "job_id", "host", "epoch", "epochs", "data_path", "pid", "pid_start", "started", "ended", "message", "error",
        "data",
        "resumed_from", "start_epoch", "machine", "precision", "notice", "paused_since", "paused_by", "experiment",
        "cell",
    ]  # fmt: skip
    assert os.listdir(tmp_path) == ["status.json"]


def test_a_status_that_is_not_json_is_not_written_and_the_old_one_stays(tmp_path):
    path = tmp_path / "status.json"
    write_status(path, RunStatus(state="running"))
    with pytest.raises(ValueError):
        write_status(path, RunStatus(state="finished", created_unix=float("nan")))
    assert read_status(path).state == "running" and os.listdir(tmp_path) == ["status.json"]


def test_replace_gives_a_new_status_and_leaves_the_old_one():
    queued = RunStatus(name="a")
    running = queued.replace(state="running", pid=3)
    assert (queued.state, queued.pid) == ("queued", None)
    assert (running.state, running.pid, running.name) == ("running", 3, "a")


def test_now_is_iso_8601_in_utc_to_the_millisecond():
    text = now_iso()
    moment = datetime.fromisoformat(text)
    assert text.endswith("+00:00") and len(text.split(".")[1]) == len("123+00:00")
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(seconds=5)
