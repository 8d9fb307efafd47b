"""The map and the attack lab in a real browser: a newcomer clicks a point of the map and sees
its image and neighbours; fools the network with ε = 2 and sees the change; measures how hard the
run is to fool. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import shutil

import pytest
from browser_fixtures import page_fixture, server_fixture, settle, shoot  # noqa: F401 (fixtures)

from cifar.study.attack import kept_robustness

pytestmark = pytest.mark.slow  # a real browser against a real server


@pytest.fixture
def run_here(finished_run, runs_dir):
    """The session's finished run, copied into the runs folder the server shows."""
    shutil.copytree(finished_run.path, runs_dir / finished_run.id)
    return finished_run


def test_a_click_on_the_map_shows_the_image_and_its_nearest_neighbours(server, page, run_here):
    page.goto(f"{server}/map?run={run_here.id}")
    page.get_by_text("nearest share its class").first.wait_for(timeout=120_000)
    settle(page)
    page.get_by_text("Click a point").first.wait_for()
    points = page.locator(".js-plotly-plot .scatterlayer .points path")
    points.nth(3).click(force=True)
    page.get_by_text("nearest in").first.wait_for()
    settle(page)
    main = page.locator("[data-testid='stMain']")
    assert main.get_by_text("After epoch").first.is_visible()
    assert main.get_by_role("link", name="Look inside the network at this image").is_visible()
    assert main.locator("[data-testid='stImage'] img").count() >= 11  # the image and its ten neighbours
    assert not main.locator("[data-testid='stException']").count()
    shoot(page, "map-clicked")


def test_an_attack_at_eps_2_shows_the_change_and_the_robustness_curve_is_measured(server, page, run_here):
    page.goto(f"{server}/attack?run={run_here.id}")
    page.get_by_text("It says").first.wait_for(timeout=120_000)
    settle(page)
    main = page.locator("[data-testid='stMain']")
    assert main.get_by_text("the change, ×64").first.is_visible()  # ε = 2: amplified 127/2 times
    assert main.get_by_text("moved by at most").first.is_visible()
    assert kept_robustness(run_here) is None
    page.get_by_role("button", name="Measure robustness").click()
    main.get_by_text("under PGD").first.wait_for(timeout=120_000)
    settle(page)
    assert not main.locator("[data-testid='stException']").count()
    shoot(page, "attack")
