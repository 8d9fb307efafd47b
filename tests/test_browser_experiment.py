"""A class experiment in a real browser: six people open its link at once, each is given a
different cell and launches it, and the Class page's heatmap fills as their runs finish.
Screenshots (desktop and phone) go to test-output/screenshots/ and the README."""

from __future__ import annotations

import pytest
from browser_fixtures import chromium_fixture, new_session, server_fixture, settle, shoot  # noqa: F401 (fixtures)
from helpers import wait_for_end, wait_until

from cifar.classroom.experiments import make_experiment, parse_vary, save_experiment
from cifar.runs.owner import administrator
from cifar.runs.run import list_runs

pytestmark = pytest.mark.slow  # a real browser against a real server, six trainings

NAMES = ("Ann", "Bob", "Cy", "Di", "Ed", "Flo")


def test_six_people_open_the_link_and_the_heatmap_fills(server, chromium, runs_dir):
    experiment = make_experiment(
        "drop-width", "quick", [parse_vary("dropout=0/0.25/0.5"), parse_vary("filters=8/16")],
        {"epochs": 1, "train_size": 200}, "Does dropout help a small network?", person=administrator(),
    )  # fmt: skip
    save_experiment(experiment, runs_dir, person=administrator())
    sessions = [new_session(chromium, 60_000) for _ in NAMES]
    for session, name in zip(sessions, NAMES, strict=True):
        session.goto(f"{server}/train?experiment=drop-width&who={name}")
    for session in sessions:
        session.get_by_text("Your cell:").wait_for()
        settle(session)
    for session in sessions:  # pressed one after the other, each before the last launch shows
        session.get_by_role("button", name="Launch my cell").click()
    wait_until(lambda: len(list_runs(runs_dir)) == 6, 120, "six launches")
    runs = list_runs(runs_dir)
    assert sorted(run.written_status().cell for run in runs) == sorted(experiment.cells())
    assert sorted(run.written_status().who for run in runs) == sorted(NAMES)

    board = sessions[0]
    board.goto(f"{server}/board?experiment=drop-width")
    board.get_by_text(f"{server}/train?experiment=drop-width").wait_for()
    for run in runs:
        assert wait_for_end(run, 600).state == "finished", run.written_status().error
    board.get_by_text("6 run(s) launched, 6 with a finished epoch").wait_for(timeout=30_000)
    board.get_by_text("In this class").wait_for()
    settle(board)
    shoot(board, "experiment-board")
    board.set_viewport_size({"width": 390, "height": 844})
    settle(board)
    shoot(board, "phone-experiment-board")
