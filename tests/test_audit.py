"""cifar.runs.audit: one JSON line per action, appended and never rewritten; a deleted log is
started again with a line that says so; reading never writes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from helpers import ROOT

from cifar.runs.audit import read_audit, record
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person, administrator, alone

ANN = Person("Ann", "name:ann", "class code", "student", "s1")


def test_each_action_is_one_json_line_with_who_what_which_run_when_and_from_where(runs_dir):
    record(runs_dir, ANN, "launch", "20261206-120000-x-ab12")
    record(runs_dir, ANN, "stop", "20261206-120000-y-cd34", "refused", "Run … is Bob's")
    lines = ClassFiles(runs_dir).audit.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["who"] == "Ann" and first["key"] == "name:ann" and first["role"] == "student"
    assert first["action"] == "launch" and first["run"] == "20261206-120000-x-ab12" and first["outcome"] == "done"
    assert first["session"] == "s1" and first["when"].endswith("+00:00")
    entries = read_audit(runs_dir).entries
    assert [(entry.action, entry.outcome, entry.detail) for entry in entries] == [
        ("launch", "done", ""),
        ("stop", "refused", "Run … is Bob's"),
    ]


def test_lines_are_appended_never_rewritten(runs_dir):
    record(runs_dir, alone("ann"), "launch", "r1")
    before = ClassFiles(runs_dir).audit.read_bytes()
    record(runs_dir, administrator(), "delete", "r1")
    after = ClassFiles(runs_dir).audit.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 2


def test_a_deleted_log_is_started_again_with_a_line_that_says_so(runs_dir):
    record(runs_dir, ANN, "launch", "r1")
    ClassFiles(runs_dir).audit.unlink()
    missing = read_audit(runs_dir)
    assert missing.entries == () and "missing" in missing.notice
    assert not ClassFiles(runs_dir).audit.exists()  # reading did not start it
    record(runs_dir, ANN, "stop", "r1")
    restarted, stop = read_audit(runs_dir).entries
    assert restarted.action == "audit log restarted" and "was missing" in restarted.detail
    assert stop.action == "stop" and read_audit(runs_dir).notice is None


def test_a_new_runs_folder_has_an_empty_log_and_reading_it_writes_nothing(runs_dir):
    assert read_audit(runs_dir).entries == () and read_audit(runs_dir).notice is None
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_lines_that_cannot_be_read_are_counted_not_shown(runs_dir):
    record(runs_dir, ANN, "launch", "r1")
    with open(ClassFiles(runs_dir).audit, "a") as log:
        log.write('{"half": \n[1, 2]\n{"when": "x"}\n\n')
    record(runs_dir, ANN, "stop", "r1")
    log = read_audit(runs_dir)
    assert [entry.action for entry in log.entries] == ["launch", "stop"]
    assert log.notice == "3 lines of the audit log could not be read and are left out."


def _write_many(runs_dir, who: str, count: int) -> None:
    for index in range(count):
        record(runs_dir, alone(who), "launch", f"{who}-{index}", detail="x" * 3000)


_WRITER = """
import sys
from pathlib import Path
from cifar.runs.audit import record
from cifar.runs.owner import alone
for index in range(50):
    record(Path(sys.argv[1]), alone(sys.argv[2]), "launch", f"{sys.argv[2]}-{index}", detail="x" * 3000)
"""


def test_lines_from_many_threads_and_processes_never_interleave(runs_dir):
    threads = [threading.Thread(target=_write_many, args=(runs_dir, f"t{index}", 50)) for index in range(4)]
    processes = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(runs_dir), f"p{index}"], cwd=ROOT) for index in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [process.wait(timeout=120) for process in processes] == [0, 0]
    lines = ClassFiles(runs_dir).audit.read_text().splitlines()
    assert len(lines) == 300 and all(json.loads(line)["detail"] == "x" * 3000 for line in lines)
    assert len(read_audit(runs_dir).entries) == 300
