"""`python -m cifar audit`: the audit log, oldest first, in lines or as JSON."""

from __future__ import annotations

import json

from cifar.cli.main import main
from cifar.runs.audit import record
from cifar.runs.layout import ClassFiles
from cifar.runs.owner import Person

ANN = Person("Ann", "name:ann", "class code", "student", "s1")


def test_it_prints_each_line_with_refusals_marked(runs_dir, capsys):
    record(runs_dir, ANN, "launch", "r1")
    record(runs_dir, ANN, "delete", "r2", "refused", "Run r2 is Bob's")
    assert main(["audit", "--runs-dir", str(runs_dir)]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.endswith("Ann (student, class code)  launch r1")
    assert second.endswith("Ann (student, class code)  REFUSED delete r2: Run r2 is Bob's")


def test_json_and_last(runs_dir, capsys):
    for index in range(3):
        record(runs_dir, ANN, "launch", f"r{index}")
    assert main(["audit", "--runs-dir", str(runs_dir), "--json", "--last", "2"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [entry["run"] for entry in entries] == ["r1", "r2"] and entries[0]["who"] == "Ann"


def test_an_empty_or_missing_log_is_said_in_words(runs_dir, capsys):
    assert main(["audit", "--runs-dir", str(runs_dir)]) == 0
    assert "is empty" in capsys.readouterr().out
    record(runs_dir, ANN, "launch", "r1")
    ClassFiles(runs_dir).audit.unlink()
    assert main(["audit", "--runs-dir", str(runs_dir)]) == 0
    said = capsys.readouterr()
    assert "The audit log is missing" in said.err and "is empty" in said.out
