"""Benchmarks 5 and 6 (server side): the app in headless Chromium, idle and while a training runs.

    CIFAR10_DIR=<data> .venv/bin/python benchmarks/bench_app.py --runs-dir <folder with a 10-epoch run> [--repeats 3]

Measures, each as a median over --repeats:
- cold start: `streamlit run` started to the Data page rendered (the dataset cache warm);
- switching pages through the sidebar, each page until its last part is drawn;
- the Results page of the newest finished 10-epoch run in the runs folder;
- the same two while a training runs (the tutorial preset on all 50,000 images), side by side:
  the ratio says whether the training starves the server;
- the server's peak memory with ten sessions (browser contexts) open on the Results page.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, median, peak_rss_bytes, save

sys.path.insert(0, str(ROOT / "tests"))  # the tests' own way of starting the app
from app_server import start_app

from cifar.runs.owner import ALONE

CHROMIUM = "/usr/bin/chromium"
# Each page and the text of its last part: drawn means the whole page is there.
PAGES = [
    ("Train", "Continue a run"),
    ("Results", "Per class"),
    ("Predictions", "Look closer at"),
    ("Classify", "Or try a test image"),
    ("Runs", "Download or delete"),
    ("Data", "Browse a class"),
]


def settle(page) -> None:
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')")


def start_server(runs_dir: str) -> tuple[subprocess.Popen, str, float]:
    """The app's server on `runs_dir`, once it answers, and when it was started."""
    started = time.perf_counter()
    log = Path(tempfile.mkdtemp(prefix="bench-app-")) / "streamlit.log"
    process, url = start_app(log, CIFAR_RUNS_DIR=runs_dir)
    return process, url, started


def switch_pages(page, repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name, _ in PAGES}
    for _ in range(repeats):
        for name, last in PAGES:
            start = time.perf_counter()
            page.get_by_role("link", name=name, exact=True).first.click()
            page.get_by_text(last).first.wait_for()
            settle(page)
            times[name].append(time.perf_counter() - start)
    return {name: round(median(values), 2) for name, values in times.items()}


def results_page(page, url: str, run_id: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        page.goto(f"{url}/results?run={run_id}")
        page.get_by_text("Per class").first.wait_for()
        settle(page)
        times.append(time.perf_counter() - start)
    return round(median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", required=True, help="a runs folder holding a finished 10-epoch run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from cifar.config.presets import preset
    from cifar.launch import launcher
    from cifar.runs.run import list_runs

    finished = [
        r for r in list_runs(args.runs_dir) if launcher.status(r).state == "finished" and launcher.status(r).epoch >= 10
    ]
    if not finished:
        sys.exit(f"{args.runs_dir} has no finished run of 10 or more epochs: train one first")
    run_id = finished[0].id
    results: dict = {"results_run": run_id}
    process, url, started = start_server(args.runs_dir)
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)
            page.goto(f"{url}/?run={run_id}")
            page.get_by_text("Browse a class").first.wait_for()
            settle(page)
            results["cold_start_to_data_page_s"] = round(time.perf_counter() - started, 2)

            results["idle"] = {
                "switch_page_s": switch_pages(page, args.repeats),
                "results_page_s": results_page(page, url, run_id, args.repeats),
            }
            training = launcher.launch(preset("tutorial"), runs_dir=args.runs_dir, name="bench-load", person=ALONE)
            try:
                while not training.progress():  # measure while it really trains, not while it loads
                    time.sleep(0.5)
                page.goto(f"{url}/?run={run_id}")
                page.get_by_text("Browse a class").first.wait_for()
                results["while_training"] = {
                    "switch_page_s": switch_pages(page, args.repeats),
                    "results_page_s": results_page(page, url, run_id, args.repeats),
                }
            finally:
                launcher.stop(training, person=ALONE)
            idle, loaded = results["idle"], results["while_training"]
            results["ratio_while_training_to_idle"] = {
                "results_page": round(loaded["results_page_s"] / idle["results_page_s"], 2),
                "switch_page_median": round(
                    median(list(loaded["switch_page_s"].values())) / median(list(idle["switch_page_s"].values())), 2
                ),
            }
            contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(10)]
            pages = [context.new_page() for context in contexts]
            for session in pages:
                session.set_default_timeout(180_000)
                session.goto(f"{url}/results?run={run_id}")
            for session in pages:
                session.get_by_text("Per class").first.wait_for()
            results["server_peak_rss_mb_with_ten_sessions"] = round(peak_rss_bytes(process.pid) / 1e6)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=60)
    deadline = time.monotonic() + 120
    while launcher.status(training).live and time.monotonic() < deadline:
        time.sleep(0.5)
    if not launcher.status(training).live:
        launcher.delete(training, person=ALONE)  # the load run was only a load: leave the runs folder as it was
    save("app", f"python benchmarks/bench_app.py --runs-dir RUNS --repeats {args.repeats}", results)


if __name__ == "__main__":
    main()
