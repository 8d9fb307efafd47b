"""The whole product in a real browser: Playwright drives Debian's Chromium against `streamlit run`.

One walk on the synthetic dataset: launch a training from the Train page and see it move, open
Results and click a confusion-matrix cell, upload an image on Classify and look inside the
network with it, replay an earlier epoch and take a camera photo on Inside, stop a second
training midway. Screenshots of every page, at 1280 px and at a phone's 390 px, go to
test-output/screenshots/.
"""

from __future__ import annotations

import contextlib
import io
import time

import pytest
from browser_fixtures import (  # noqa: F401 (fixtures)
    launch_long_from_page,
    page_fixture,
    playwright_api,
    server_fixture,
    settle,
    shoot,
)
from helpers import wait_for_end, wait_until
from PIL import Image

from cifar.launch import launcher
from cifar.runs.run import list_runs

pytestmark = pytest.mark.slow  # a real browser against a real server

IDLE_WINDOW_SECONDS = 12


def progress_text(page) -> str:
    return page.locator("[data-testid='stProgress']").first.inner_text()


def look_inside(page, server: str, run) -> None:
    """Inside: a test image's maps, filters and Grad-CAM; the epoch slider; a camera photo."""
    page.goto(f"{server}/inside?run={run.id}&image=3")
    page.get_by_text("After epoch 10 it thinks:").wait_for()
    for part in ("where it found most evidence for", "block1_conv1", "block1_pool", "The first layer's filters"):
        page.get_by_text(part).first.wait_for()
    settle(page)
    shoot(page, "inside")
    slider = page.get_by_role("slider").first  # the epoch slider, at the last epoch
    for _ in range(5):  # a key that lands while the page reruns can be lost: press again, as a person would
        slider.focus()
        slider.press("Home")
        with contextlib.suppress(playwright_api.TimeoutError):
            page.get_by_text("After epoch 1 it thinks:").wait_for(timeout=20_000)
            break
    page.get_by_text("After epoch 1 it thinks:").wait_for()
    settle(page)
    shoot(page, "inside-epoch-1")
    # The camera: Chromium's fake device stands in for a webcam.
    page.get_by_text("the camera", exact=True).click()
    page.wait_for_function("(document.querySelector('video') || {}).readyState >= 2")  # the feed is live
    for _ in range(3):  # a click before the stream has a frame takes no photo: click again, as a person would
        page.get_by_role("button", name="Take Photo").click()
        with contextlib.suppress(playwright_api.TimeoutError):
            page.get_by_text("camera photo: the 32×32 it sees").wait_for(timeout=20_000)
            break
    page.get_by_text("camera photo: the 32×32 it sees").wait_for()
    page.get_by_text("After epoch 1 it thinks:").wait_for()
    settle(page)
    shoot(page, "inside-camera")


def test_walk_through_the_product(server, page, runs_dir):
    page.goto(f"{server}/")
    page.get_by_text("The data").first.wait_for()
    settle(page)
    # Students see the product, not the framework: no Deploy button, no developer menu items.
    assert page.get_by_role("button", name="Deploy").count() == 0
    page.locator("[data-testid='stMainMenu']").click()
    assert page.get_by_text("Clear cache").count() == 0 and page.get_by_text("Rerun").count() == 0
    page.keyboard.press("Escape")
    shoot(page, "data")

    # Nothing trains yet: an open Train tab asks the server for a redraw every few seconds (its
    # live view and the sidebar's progress each every 5 s), not every second: a slow machine asks
    # less often, never more.
    asked: list[float] = []
    page.on("websocket", lambda socket: socket.on("framesent", lambda _: asked.append(time.monotonic())))
    page.goto(f"{server}/train")
    page.get_by_role("button", name="Launch training").wait_for()
    settle(page)
    before = len(asked)
    page.wait_for_timeout(IDLE_WINDOW_SECONDS * 1000)  # a rate is counted over a stretch of time
    # Two views, each every 5 s: at most 3 asks each in 12 s (every second and every 2 s: 18).
    assert 1 <= len(asked) - before <= 6

    # Launch the default (tutorial) model on the small data and watch it move.
    page.get_by_role("button", name="Launch training").click()
    page.locator("[data-testid='stProgress']").first.wait_for()
    first = progress_text(page)
    wait_until(lambda: progress_text(page) != first, timeout=120, what="the progress bar to move")
    shoot(page, "train-live")
    (run,) = list_runs(runs_dir)
    assert wait_for_end(run, timeout=240).state == "finished"

    # Results: curves and the confusion matrix; a click on a cell opens its images.
    page.goto(f"{server}/results?run={run.id}")
    page.get_by_text("Confusion matrix after epoch").wait_for()
    matrix = page.locator("[data-testid='stPlotlyChart']").nth(2).locator(".nsewdrag").first
    matrix.wait_for()  # the third chart: accuracy, loss, then the confusion matrix
    settle(page)
    matrix.scroll_into_view_if_needed()
    box = matrix.bounding_box()
    true_index, predicted_index = 3, 5  # cat taken for dog
    page.mouse.click(
        box["x"] + (predicted_index + 0.5) * box["width"] / 10, box["y"] + (true_index + 0.5) * box["height"] / 10
    )
    page.get_by_text("test images of cat predicted as dog").wait_for()
    shoot(page, "results")

    page.goto(f"{server}/predictions?run={run.id}")
    page.get_by_text("Look closer at").wait_for()
    settle(page)
    shoot(page, "predictions")

    # Classify: an uploaded photo gets probabilities.
    page.goto(f"{server}/classify?run={run.id}")
    photo = io.BytesIO()
    Image.new("RGB", (200, 140), (30, 90, 200)).save(photo, "PNG")
    page.locator("input[type='file']").set_input_files(
        files=[{"name": "blue.png", "mimeType": "image/png", "buffer": photo.getvalue()}]
    )
    page.get_by_text("looks like a").wait_for()
    settle(page)
    shoot(page, "classify")

    # Inside, from Classify's answer: the same upload, looked inside.
    page.get_by_role("button", name="Look inside").click()
    page.get_by_text("After epoch 10 it thinks:").wait_for()
    page.get_by_text("the same map over your image's centre, the part it saw").wait_for()
    look_inside(page, server, run)

    page.goto(f"{server}/runs")
    page.get_by_text("Compare curves").wait_for()
    settle(page)
    shoot(page, "runs")

    # A second, long training, stopped midway from the page.
    launch_long_from_page(page, server)
    second = next(r for r in list_runs(runs_dir) if r.id != run.id)
    shoot(page, "train-second-live")
    stop = page.get_by_role("button", name="Stop training", exact=True)

    # The live view redraws every second; a click that lands while its button is being
    # replaced can be lost, so click until the run has the stop request, as a person would.
    def heard() -> bool:
        return second.stop_requested() or not launcher.status(second).live

    for _ in range(10):
        if heard():
            break
        with contextlib.suppress(playwright_api.TimeoutError):  # gone once the run has ended: nothing to press
            stop.click(timeout=5_000)
        with contextlib.suppress(AssertionError):  # not heard yet: the click landed on a button being redrawn
            wait_until(heard, 5, "the stop request")
    status = wait_for_end(second, timeout=120)
    assert status.state == "stopped" and status.epoch < 300

    # Every page once more at a phone's width, for people to look at.
    page.set_viewport_size({"width": 390, "height": 844})
    for name, last in [("", "Browse a class"), ("train", "Continue a run"), ("results", "Per class"),
                       ("predictions", "Look closer at"), ("classify", "Or try a test image"),
                       ("runs", "Download or delete"), ("inside", "Feature maps")]:  # fmt: skip
        page.goto(f"{server}/{name}?run={run.id}")
        page.get_by_text(last).first.wait_for()  # the page's last part: it has all rendered
        settle(page)
        shoot(page, f"phone-{name or 'data'}")
