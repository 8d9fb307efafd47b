"""The command line as a whole (cifar/cli/main.py): its parser and help, and how an error of any
command becomes words and an exit code. Each command's own tests are in test_cli_<command>.py."""

from __future__ import annotations

import errno
import re

import pytest
from helpers import squeezed

from cifar.cli import main as cli_main
from cifar.cli.main import EXIT_USAGE, build_parser, main
from cifar.errors import RunError


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        ("train", ["Exit codes: 0 finished, 1 failed, 2 bad arguments, 3 stopped.", "--preset", "--resume RUN"]),
        ("evaluate", ["Evaluate a run from its stored test-set predictions", "--epoch EPOCH", "--json", "run"]),
        ("predict", ["Classify image files with a run's model", "--top TOP", "IMAGE [IMAGE ...]"]),
        ("launch", ["Prints the run id on its first line", "--who WHO", "--preset", "--resume RUN"]),
        ("runs", ["List runs, newest first", "their place in line", "--who WHO", "--live", "--json"]),
        ("stop", ["Stop a training after its current batch.", "run id or run directory"]),
    ],
)
def test_help_says_what_each_command_does(command, phrases, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--help"])
    assert exited.value.code == 0
    shown = squeezed(capsys.readouterr().out)
    assert shown.startswith(squeezed(f"usage: python -m cifar {command} [-h]"))
    for phrase in phrases:
        assert squeezed(phrase) in shown, phrase


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "python -m cifar: error: the following arguments are required: COMMAND"
    )


def test_the_main_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    # A command's line starts four spaces in; its wrapped help, further.
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if re.match(r" {4}\S", line)]
    assert listed == [
        "train",
        "launch",
        "estimate",
        "evaluate",
        "predict",
        "explain",
        "embed",
        "attack",
        "runs",
        "stop",
        "control",
        "experiment",
        "audit",
    ]


def test_a_commands_error_is_printed_in_its_words_with_exit_code_2(monkeypatch, capsys):
    def refuse(args):
        raise RunError("No run 'x' in /runs; `python -m cifar runs` lists them.")

    monkeypatch.setattr(cli_main, "cmd_runs", refuse)
    assert main(["runs"]) == EXIT_USAGE == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: No run 'x' in /runs; `python -m cifar runs` lists them.\n"


def test_a_write_the_system_refuses_names_the_file_and_exits_2(monkeypatch, capsys):
    def read_only(args):
        raise OSError(errno.EROFS, "Read-only file system", "/runs/x/stop")

    monkeypatch.setattr(cli_main, "cmd_stop", read_only)
    assert main(["stop", "x"]) == 2
    assert capsys.readouterr().err == (
        "error: could not read or write /runs/x/stop: Read-only file system. Check the folder and the disk.\n"
    )

    def nameless(args):
        raise OSError("disk gone")

    monkeypatch.setattr(cli_main, "cmd_stop", nameless)
    assert main(["stop", "x"]) == 2
    assert capsys.readouterr().err == "error: could not read or write: disk gone. Check the folder and the disk.\n"
