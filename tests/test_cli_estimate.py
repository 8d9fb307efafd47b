"""`python -m cifar estimate` (cifar/cli/estimate.py): the seconds and the basis, in words or JSON."""

from __future__ import annotations

import json

from cifar.cli.main import main


def test_the_estimate_command_prints_the_seconds_and_the_basis(tmp_path, capsys):
    flags = ["--conv-blocks", "1", "--filters", "4", "--convs-per-block", "1", "--dense-units", "8"]
    assert main(["estimate", "--preset", "quick", "--no-measure", "--runs-dir", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert said.startswith("64 s, from `quick`'s time on the project's 2-core AMD EPYC") or "not measured yet" in said
    assert main(["estimate", "--preset", "quick", *flags, "--json", "--runs-dir", str(tmp_path)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["basis"].startswith("this machine's measured speed for this network") and found["seconds"] > 0
    assert found["preset"] == "quick" and found["note"] is None
