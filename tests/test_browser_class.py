"""A class in a real browser: a teacher's link opens Train with its values and hidden controls,
a student launches under their name, and the class board of twelve runs from four names at a
desktop's and a phone's width. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import pytest
from browser_fixtures import page_fixture, playwright_api, server_fixture, settle, shoot  # noqa: F401 (fixtures)
from helpers import wait_for_end, wait_until, write_twelve_runs
from playwright.sync_api import expect

from cifar.config.presets import preset
from cifar.launch import launcher
from cifar.runs.owner import ALONE
from cifar.runs.run import list_runs

pytestmark = pytest.mark.slow  # a real browser against a real server

LESSON = "preset=quick&epochs=3&dropout=0.25&hide=optimizer,learning_rate&batch_size=huge&who=Ada"


def test_a_lesson_link_and_the_class_board(server, page, runs_dir, finished_run):
    page.goto(f"{server}/train?{LESSON}")
    page.get_by_text("batch_size=huge in the link was left out").wait_for()
    page.get_by_text("Set by this lesson's link: optimizer adam, learning rate 0.001.").wait_for()
    settle(page)
    page.get_by_role("tab", name="Optimisation").click()
    # A tab's widgets mount when it opens, showing their proto's default for a moment before the
    # value the server set: wait for the value, never read it at once.
    expect(page.get_by_label("Epochs", exact=True)).to_have_value("3")
    assert page.get_by_text("Optimizer", exact=True).count() == 0  # hidden, as the link asked
    expect(page.get_by_label("Your name", exact=True).and_(page.get_by_role("textbox"))).to_have_value("Ada")
    shoot(page, "train-lesson")
    page.get_by_role("button", name="Launch training").click()
    wait_until(lambda: len(list_runs(runs_dir)) == 1, what="the launched run")
    (run,) = list_runs(runs_dir)
    assert run.config() == preset("quick").replace(epochs=3, dropout=0.25)
    assert run.written_status().who == "Ada"
    launcher.stop(run, person=ALONE)
    wait_for_end(run)

    source = finished_run
    write_twelve_runs(source, runs_dir)
    for width, height, name in [(1280, 800, "class-board"), (390, 844, "phone-class-board")]:
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{server}/board")
        page.get_by_text("Everyone's settings against accuracy").wait_for()
        page.get_by_text("Download the board (CSV)").wait_for()
        settle(page)
        shoot(page, name)
