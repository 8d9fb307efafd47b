"""A full classroom in a real browser: ten sessions on one server while a training runs, and
server restarts under a running training. Playwright drives Debian's Chromium.

The sessions are all open at once (one Chromium, a context each: separate cookies and
websockets, as ten students' browsers). Each step is started in every session before any is
waited on, so the server serves them together; Playwright itself is driven from one thread.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from app_server import end_app, start_app
from browser_fixtures import chromium_fixture, launch_long_from_page, new_session, playwright_api  # noqa: F401 (fixture); skips without Chromium
from helpers import ROOT, TINY, app_page, train_run, wait_for_end, wait_until
from PIL import Image

from cifar.data import load_dataset
from cifar.launch import launcher
from cifar.runs.liveness import process_alive
from cifar.runs.owner import ALONE
from cifar.runs.run import Run, list_runs, open_run_dir
from cifar.study.gallery import with_article
from cifar.study.infer import predict, prepare_image

pytestmark = pytest.mark.slow  # a real browser against a real server

SESSIONS = 10
# The server with ten sessions, TensorFlow and the networks Inside keeps open (at most four):
# about 1 GB before Inside (benchmarks/RESULTS.md, section 5); Inside must stay within this.
SERVER_MEMORY_LIMIT = 1.5 * 2**30
ACTION_MS = 240_000  # one step of one session, while nine others and a training share two cores


# --- a server and a browser ------------------------------------------------------------------


def start_server(batches_dir: Path, runs_dir: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`streamlit run` on a free port, as scripts/app.sh starts it, on the given data and runs."""
    return start_app(log_path, CIFAR10_DIR=str(batches_dir), CIFAR_RUNS_DIR=str(runs_dir))


def peak_rss_bytes(pid: int) -> int:
    """A process's peak resident memory (VmHWM), which the kernel keeps for its whole life."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


@pytest.fixture
def servers() -> Iterator[list[subprocess.Popen]]:
    """Every server a test starts is ended after it, whatever happened."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        end_app(process)


@pytest.fixture
def trainings() -> Iterator[list[Run]]:
    """Every training a test starts is stopped after it, whatever happened."""
    started: list[Run] = []
    yield started
    for run in started:
        status = launcher.status(run)
        if status.live and status.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(status.pid, signal.SIGKILL)


def new_person(browser):
    return new_session(browser, ACTION_MS)


def settle(page) -> None:
    """Wait until Streamlit has finished running the script (no 'running' indicator)."""
    page.wait_for_selector("[data-testid='stMain']")
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=ACTION_MS)


def main_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def progress_text(page) -> str:
    return page.locator("[data-testid='stMain'] [data-testid='stProgress']").first.inner_text()


def slow_down(run: Run) -> int:
    """The training's pid, once it has one, at the lowest priority: the browsers come first."""
    wait_until(lambda: run.written_status().pid, what="the training process to start")
    pid = run.written_status().pid
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, 19)
    return pid


# --- ten sessions at once ----------------------------------------------------------------------


def photo(pixels: np.ndarray) -> bytes:
    """A 32×32 image enlarged to 96×96 with crisp pixels, as a PNG upload."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((96, 96), Image.Resampling.NEAREST).save(buffer, "PNG")
    return buffer.getvalue()


def well_trained_run(batches_dir: Path, folder: Path) -> Run:
    """A run that tells every class of the synthetic data apart, so that ten sessions can each
    get a different answer."""
    return train_run(batches_dir, folder, epochs=12)


def one_photo_per_class(run: Run, images: np.ndarray) -> dict[str, bytes]:
    """For each class, a test image the run's model gives that class: ten sessions, ten answers."""
    model = run.load_model()
    names = run.class_names()
    files = {}
    for prepared_class, name in enumerate(names):
        for image in images:
            data = photo(image)
            if int(predict(model, prepare_image(data).pixels).argmax()) == prepared_class:
                files[f"session-{prepared_class:02d}-{name}.png"] = data
                break
    assert len(files) == SESSIONS, f"the model answers only {sorted(files)}: no photo for every class"
    return files


@contextlib.contextmanager
def pictures_on_failure(pages: list, name: str) -> Iterator[None]:
    """On a failure, a screenshot of every session in test-output/<name>/, for whoever debugs it."""
    try:
        yield
    except BaseException:
        folder = ROOT / "test-output" / name
        folder.mkdir(parents=True, exist_ok=True)
        for index, page in enumerate(pages):
            with contextlib.suppress(Exception):
                page.screenshot(path=str(folder / f"session-{index:02d}.png"))
        raise


def go_together(pages: list, link: str, sign: str) -> None:
    """Click the sidebar's `link` in every one of `pages`, then wait for `sign` on each: a
    student clicks once, and every click must be answered."""
    for page in pages:
        page.locator("[data-testid='stSidebarNavLink']", has_text=link).click()
    for number, page in enumerate(pages):
        try:
            page.locator(sign).first.wait_for(state="attached", timeout=ACTION_MS)
        except playwright_api.TimeoutError:
            raise AssertionError(f"session {number}'s click on {link} was never answered") from None


def test_ten_sessions_on_one_server_while_a_training_runs(
    batches_dir, long_batches_dir, runs_dir, tmp_path, chromium, servers, trainings
):
    trained = well_trained_run(batches_dir, tmp_path / "trained")
    first = open_run_dir(shutil.copytree(trained.path, runs_dir / trained.id))
    second = open_run_dir(shutil.copytree(trained.path, runs_dir / f"{trained.id}-b"))
    # 500 epochs of 50,000 images: it cannot end before the sessions do.
    live = launcher.launch(
        TINY.replace(epochs=500), runs_dir=runs_dir, data=long_batches_dir, name="live", person=ALONE
    )
    trainings.append(live)
    slow_down(live)
    server, url = start_server(batches_dir, runs_dir, tmp_path / "streamlit.log")
    servers.append(server)
    wait_until(lambda: launcher.status(live).state == "running", what="the training to run")
    epoch_at_start = live.written_status().epoch

    files = one_photo_per_class(first, load_dataset(batches_dir).x_test)
    names = list(files)
    model = first.load_model()  # the answer each file should get, worked out here
    classes = first.class_names()
    expected = {name: classes[int(predict(model, prepare_image(data).pixels).argmax())] for name, data in files.items()}
    assert len(set(expected.values())) == SESSIONS  # every session gets an answer of its own
    timings: dict[str, float] = {}
    pages = [new_person(chromium) for _ in range(SESSIONS)]

    with pictures_on_failure(pages, "classroom-failure"):
        # All ten open the app at once, and stay open to the end.
        began = time.monotonic()
        for page in pages:
            page.goto(f"{url}/?run={first.id}", wait_until="commit")
        for page in pages:
            page.get_by_text("Browse a class").first.wait_for()
        timings["ten open Data at once"] = time.monotonic() - began

        # Then all ten go through the pages together.
        steps = [
            ("Train", "[data-testid='stMain'] [data-testid='stProgress']"),  # the live training's bar
            ("Results", "text=Confusion matrix after epoch"),
            ("Runs", "text=Compare curves"),
            ("Predictions", "text=Look closer at"),
            ("Inside", "text=Feature maps"),  # every session's own network maps and Grad-CAM
            ("Classify", "[data-testid='stMain'] input[type='file']"),
        ]
        began = time.monotonic()
        for link, sign in steps:
            go_together(pages, link, sign)
        timings["ten through Train, Results, Runs, Predictions, Inside, Classify"] = time.monotonic() - began
        for page in pages:
            assert f"Answering: run {first.id} " in main_text(page)

        # Ten uploads at once, each answered on its own page only.
        def answer(page, name: str):
            return page.locator("[data-testid='stMarkdownContainer']", has_text=f"{name}: looks like").first

        began = time.monotonic()
        for page, name in zip(pages, names, strict=True):
            page.locator("[data-testid='stMain'] input[type='file']").set_input_files(
                files=[{"name": name, "mimeType": "image/png", "buffer": files[name]}]
            )
        for page, name in zip(pages, names, strict=True):
            answer(page, name).wait_for()
        timings["ten uploads at once"] = time.monotonic() - began

        def only_its_own(page, name: str) -> None:
            settle(page)
            text = main_text(page)
            assert f"{name}: looks like {with_article(expected[name])}" in text
            assert not [other for other in names if other != name and other in text], f"{name} sees another's file"

        for page, name in zip(pages, names, strict=True):
            only_its_own(page, name)

        # One student picks another run in the sidebar; nobody else's choice moves.
        chooser = pages[0]
        chooser.locator(".st-key-run_picker").click()
        chooser.get_by_role("option", name=second.id, exact=True).click()
        chooser.get_by_text(f"Answering: run {second.id} ").wait_for()
        assert f"run={second.id}" in chooser.url
        for page in pages[1:]:
            page.get_by_text("Or try a test image").click()  # a rerun of every other page
        for page, name in zip(pages[1:], names[1:], strict=True):
            page.get_by_text("Test image #0").first.wait_for()
            only_its_own(page, name)
            assert f"Answering: run {first.id} " in main_text(page) and f"run={first.id}" in page.url
        only_its_own(chooser, names[0])  # its own upload, now answered by the other run

    assert launcher.status(live).state == "running", "the training ended before the sessions were done"
    server_peak = peak_rss_bytes(server.pid)
    assert server_peak < SERVER_MEMORY_LIMIT, f"the server peaked at {server_peak / 2**20:.0f} MB"
    epochs_meanwhile = live.written_status().epoch - epoch_at_start
    assert launcher.stop(live, person=ALONE)
    assert wait_for_end(live, timeout=120).state == "stopped"
    print(
        f"\nFIGURE classroom: {SESSIONS} sessions held at once on one server while a training ran "
        f"({epochs_meanwhile} epochs meanwhile); seconds: "
        + ", ".join(f"{step} {seconds:.0f}" for step, seconds in timings.items())
        + f"; the server's peak memory: {server_peak / 2**20:.0f} MB"
    )


# --- the server restarted under a running training --------------------------------------------


def moves(page, timeout: float = 120) -> str:
    """Wait for the Train page's progress text to change; return the new one."""
    page.locator("[data-testid='stMain'] [data-testid='stProgress']").first.wait_for()
    before = progress_text(page)
    wait_until(lambda: progress_text(page) != before, timeout=timeout, what="the progress to move")
    return progress_text(page)


def batches_logged(run: Run) -> int:
    return run.files.events.read_bytes().count(b'"type": "batch"')


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def test_a_training_outlives_server_restarts(long_batches_dir, runs_dir, tmp_path, chromium, servers, trainings):
    log = tmp_path / "streamlit.log"
    # Launched from the page on the server's data: 300 epochs of 50,000 images outlast the restarts.
    server, url = start_server(long_batches_dir, runs_dir, log)
    servers.append(server)
    page = new_person(chromium)

    # Launched from the page: the training is the server's own child process.
    launch_long_from_page(page, url)
    (run,) = list_runs(runs_dir)
    trainings.append(run)
    pid = slow_down(run)
    assert parent_of(pid) == server.pid
    moves(page)

    for how in (signal.SIGTERM, signal.SIGKILL):
        end_app(server, how)
        assert process_alive(pid, run.written_status().pid_start), f"the training died with the server ({how!r})"
        logged = batches_logged(run)
        wait_until(lambda logged=logged: batches_logged(run) > logged, what="the training to go on without a server")
        assert launcher.status(run).state == "running"
        server, url = start_server(long_batches_dir, runs_dir, log)  # a new port: a fresh server
        servers.append(server)
        page.goto(f"{url}/train")
        page.locator("[data-testid='stMain'] h3", has_text=f"Run {run.id}").first.wait_for()  # the live view
        moves(page)  # the reopened page shows the same training, live

    # The training itself killed outright, once it has an epoch to keep: every page says so.
    wait_until(lambda: run.history().get("epoch"), 900, "the first epoch to finish")
    os.kill(pid, signal.SIGKILL)
    status = wait_for_end(run, timeout=60)
    assert status.state == "interrupted"
    page.wait_for_function("!document.querySelector('[data-testid=\"stProgress\"]')", timeout=ACTION_MS)
    page.goto(f"{url}/results?run={run.id}")
    page.get_by_text(re.compile(rf"Run {re.escape(run.id)} · interrupted · \d+ of 300 epochs")).wait_for()
    # The pages that list runs say so too: the Runs table and the class board (their tables
    # are drawn on a canvas: read through AppTest).
    runs = app_page("runs").run()
    table = runs.dataframe[0].value
    assert not runs.exception and table.loc[table["run"] == run.id, "state"].tolist() == ["interrupted"]
    board = app_page("board").run()
    rows = board.dataframe[0].value
    assert not board.exception and rows["now"].tolist() == ["interrupted"], rows
    done = len(run.history().get("epoch", []))
    assert done >= 1 and run.prediction_epochs()[:done] == list(range(1, done + 1))
    assert np.isfinite(run.predictions(done).astype(np.float32)).all()
    print(f"\nFIGURE restarts: the training outlived a SIGTERM and a SIGKILL of its server; {done} epochs kept")
