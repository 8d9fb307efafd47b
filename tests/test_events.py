"""cifar.runs.events: the event log appended one whole line at a time, and read whole lines only:
a torn last line waits for the next read, a damaged one is skipped, offsets count bytes."""

from __future__ import annotations

import errno
import json
import os
import time

import pytest

from cifar.errors import RunError
from cifar.runs import events as event_log
from cifar.runs.events import EventLog, first_event, last_event, read_events
from cifar.runs.run import Run


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_an_appended_event_is_one_json_line_with_its_kind_and_time_readable_at_once(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    before = time.time()
    log.append("batch", epoch=1, loss=2.5)
    # Flushed: another process reads it before the trainer writes anything else.
    assert path.read_bytes().endswith(b"\n") and path.read_bytes().count(b"\n") == 1
    (event,) = _lines(path)
    log.close()
    assert event["type"] == "batch" and event["epoch"] == 1 and event["loss"] == 2.5
    assert before - 0.001 <= event["time"] <= time.time() + 0.001
    assert event["time"] == round(event["time"], 3)


def test_the_log_is_appended_to_never_overwritten(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type": "start"}\n')
    log = EventLog(path)
    log.append("end", state="finished")
    log.close()
    assert [event["type"] for event in _lines(path)] == ["start", "end"]


def test_an_event_that_is_not_json_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    with pytest.raises(ValueError):
        log.append("batch", loss=float("nan"))
    log.close()
    assert path.read_bytes() == b""


def test_torn_event_log(tmp_path):
    run = Run(tmp_path)
    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"type": "start"}\n{"type": "batch", "loss": 2.3}\n{"type": "ba')
    events, offset = run.events()
    assert [e["type"] for e in events] == ["start", "batch"]
    assert run.events(offset) == ([], offset)  # the torn line waits
    with open(log, "ab") as handle:
        handle.write(b'tch", "loss": 2.1}\nnot json at all\n{"type": "end"}\n')
    more, _ = run.events(offset)
    assert [e["type"] for e in more] == ["batch", "end"] and more[0]["loss"] == 2.1


def test_a_torn_last_line_is_left_for_the_next_read_at_the_same_byte(tmp_path):
    path = tmp_path / "events.jsonl"
    first = b'{"type": "batch", "epoch": 1}\n'
    path.write_bytes(first + b'{"type": "bat')
    assert read_events(path) == ([{"type": "batch", "epoch": 1}], len(first))
    assert read_events(path, len(first)) == ([], len(first))


def test_offsets_count_bytes_so_text_beyond_ascii_does_not_shift_them(tmp_path):
    path = tmp_path / "events.jsonl"
    first = '{"type": "note", "text": "épreuve ✓"}\n'.encode()
    second = b'{"type": "end"}\n'
    path.write_bytes(first + second)
    events, offset = read_events(path)
    assert [e["type"] for e in events] == ["note", "end"] and offset == len(first) + len(second)
    assert read_events(path, len(first)) == ([{"type": "end"}], len(first) + len(second))


def test_lines_that_are_not_events_are_skipped_and_the_rest_still_count(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'[1, 2]\n42\n"text"\n\xff\xfe\n{"type": "ok"}\n{"type": broken\n\n{"type": "also"}\n')
    events, offset = read_events(path)
    assert events == [{"type": "ok"}, {"type": "also"}] and offset == path.stat().st_size


def test_a_missing_log_has_no_events_yet_and_keeps_the_offset(tmp_path):
    assert read_events(tmp_path / "events.jsonl", 17) == ([], 17)
    assert first_event(tmp_path / "events.jsonl", "start") is None
    assert last_event(tmp_path / "events.jsonl", "batch") is None


def test_a_log_that_cannot_be_read_is_a_run_error_in_words(tmp_path):
    path = tmp_path / "events.jsonl"
    path.mkdir()
    reason = os.strerror(errno.EISDIR)
    expected = f"Could not read the event log {path} ({reason}: {path}): check that the runs folder can be read."
    for read in (lambda: read_events(path), lambda: first_event(path, "start"), lambda: last_event(path, "batch")):
        with pytest.raises(RunError) as caught:
            read()
        assert str(caught.value) == expected


def test_the_first_event_is_the_first_line_only_when_whole_and_of_its_kind(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type": "start", "steps": 10}\n{"type": "batch"}\n')
    assert first_event(path, "start") == {"type": "start", "steps": 10}
    assert first_event(path, "batch") is None  # a later line is not the first
    path.write_bytes(b'{"type": "start", "steps": 1')
    assert first_event(path, "start") is None  # still being written
    path.write_bytes(b"not json\n")
    assert first_event(path, "start") is None
    path.write_bytes(b'["start"]\n')
    assert first_event(path, "start") is None


def test_a_first_line_too_long_to_be_a_start_event_is_not_read_whole(tmp_path):
    path = tmp_path / "events.jsonl"
    padding = "x" * event_log.FIRST_LINE_LIMIT
    path.write_text(json.dumps({"type": "start", "padding": padding}) + "\n")
    assert first_event(path, "start") is None


def test_the_last_event_of_a_kind_is_the_newest(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"type": "batch", "batch": 1}\n{"type": "batch", "batch": 2}\n{"type": "epoch"}\n{"type": "ba')
    assert last_event(path, "batch") == {"type": "batch", "batch": 2}
    assert last_event(path, "end") is None


def test_the_last_event_is_read_from_the_end_and_a_line_cut_there_is_skipped(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    line = '{"type": "batch", "batch": %d, "note": "%s"}\n'
    path.write_text("".join(line % (number, "y" * 40) for number in range(1, 201)))
    monkeypatch.setattr(event_log, "TAIL_BYTES", 100)  # a line and a bit: the read starts mid-line
    assert last_event(path, "batch")["batch"] == 200
