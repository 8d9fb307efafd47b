"""Playwright and Chromium against a real `streamlit run`: the fixtures that every browser test shares.

Import `server_fixture` and `page_fixture` and ask for `server` and `page`. A test that
asks for a browser skips, saying why, when Chromium is missing (CIFAR_TEST_BROWSER, default
/usr/bin/chromium); in CI that skip is a failure (tests/ci_skips.py).
"""

from __future__ import annotations

import os

import pytest
from app_server import running_app
from helpers import ROOT

# The browser the tests drive: a setting, so that a missing one can be tried (CI must fail then).
CHROMIUM = os.environ.get("CIFAR_TEST_BROWSER") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-dev.txt")


def launch_chromium(driver):
    """Headless Chromium through a Playwright `driver`; the test skips, saying why, without one
    (in CI that skip fails: tests/ci_skips.py)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: .ci/run installs Debian's chromium (apt-get install -y chromium); "
            "CIFAR_TEST_BROWSER names another browser"
        )
    return driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# Headless Chromium as the tests run it; background tabs keep running (ten sessions at once).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--no-first-run",
    "--disable-sync",
    # A fake camera that needs no prompt, for the Inside page's camera input.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


@pytest.fixture(name="chromium")
def chromium_fixture():
    """Headless Chromium, for tests that open several sessions (`new_session`)."""
    with playwright_api.sync_playwright() as driver:
        browser = launch_chromium(driver)
        yield browser
        browser.close()


def new_session(browser, timeout_ms: float) -> object:
    """A page of its own context (a person's own browser), 1280 × 900, waiting up to `timeout_ms`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(timeout_ms)
    return context.new_page()


@pytest.fixture(name="server")
def server_fixture(batches_dir, runs_dir, tmp_path):
    """The URL of `streamlit run streamlit_app.py` on a free port, on the synthetic data and `runs_dir`."""
    with running_app(tmp_path / "streamlit.log", CIFAR10_DIR=str(batches_dir), CIFAR_RUNS_DIR=str(runs_dir)) as url:
        yield url


@pytest.fixture(name="page")
def page_fixture(server):
    """A Playwright page in headless Chromium, 1280 × 900, waiting up to 60 s for anything."""
    with playwright_api.sync_playwright() as driver:
        browser = launch_chromium(driver)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["camera"])
        context.set_default_timeout(60_000)
        yield context.new_page()
        browser.close()


def launch_long_from_page(page, url: str, epochs: int = 300) -> None:
    """Open the Train page, set `epochs` and press Launch, as a person would; wait for the bar."""
    page.goto(f"{url}/train")
    page.get_by_role("tab", name="Optimisation").click()
    field = page.get_by_label("Epochs", exact=True)
    field.fill(str(epochs))
    field.press("Enter")
    settle(page)
    page.get_by_role("button", name="Launch training").click()
    page.locator("[data-testid='stMain'] [data-testid='stProgress']").first.wait_for()


def settle(page) -> None:
    """Wait until Streamlit has finished running the script (no 'running' indicator)."""
    page.wait_for_selector("[data-testid='stMain']")
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')")


SHOTS = ROOT / "test-output" / "screenshots"


def shoot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport to fit."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": min(max(height, viewport["height"]), 8000)})
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(viewport)
