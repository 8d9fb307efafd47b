"""Steering in a real browser: a student pauses their training from the Train page, gives it a
smaller learning rate, resumes it, and sees the change marked on its curves; the trainer did it
(its events say so). Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import pytest
from browser_fixtures import page_fixture, playwright_api, server_fixture, settle, shoot  # noqa: F401 (fixtures)
from helpers import run_cli, wait_for_end, wait_until

from cifar.launch import launcher
from cifar.runs.owner import ALONE
from cifar.runs.run import find_run

pytestmark = pytest.mark.slow  # a real browser against a real server and a real training


def test_a_student_pauses_changes_the_rate_resumes_and_sees_the_mark(server, page, long_batches_dir, runs_dir):
    launched = run_cli(
        "launch", "--preset", "quick", "--train-size", "2000", "--epochs", "50", "--data", str(long_batches_dir),
        "--runs-dir", str(runs_dir),
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr
    run = find_run(launched.stdout.splitlines()[0], runs_dir)
    wait_until(lambda: run.progress() is not None, 180, "the first batch")
    try:
        page.goto(f"{server}/train?run={run.id}")
        page.get_by_role("button", name="Pause").click()
        page.get_by_text("Paused for").first.wait_for()
        wait_until(lambda: launcher.status(run).paused_since is not None, 60, "the trainer to pause")
        settle(page)
        rate = page.get_by_role("spinbutton", name="Learning rate")
        rate.fill("0.0001")
        rate.press("Enter")
        settle(page)
        page.get_by_role("button", name="Apply").first.click()
        wait_until(lambda: _done(run, "lr"), 60, "the trainer to change the rate")
        settle(page)
        page.get_by_role("button", name="Resume").click()
        wait_until(lambda: _done(run, "resume"), 60, "the trainer to resume")
        page.locator("[data-testid='stMain']").get_by_text("lr 0.0001").first.wait_for()
        page.get_by_role("button", name="Pause").wait_for()  # the page has seen the resume
        settle(page)
        shoot(page, "train-steered")
        (changed,) = [event for event in run.events()[0] if event["type"] == "control" and event["action"] == "lr"]
        assert changed["learning_rate"] == pytest.approx(0.0001, rel=1e-4)
    finally:  # a 50-epoch training must not outlive the test
        launcher.stop(run, person=ALONE)
        wait_for_end(run)


def _done(run, action: str) -> bool:
    return any(
        event["type"] == "control" and event["action"] == action and event["outcome"] == "done"
        for event in run.events()[0]
    )
