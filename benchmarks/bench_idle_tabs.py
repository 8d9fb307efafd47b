"""Benchmark 14b: what open tabs cost while nothing trains, in the browser and on the server.

    .venv/bin/python benchmarks/bench_idle_tabs.py [--tabs 10] [--page train] [--settle 60] [--seconds 30]

Starts the app (`streamlit run streamlit_app.py`, as scripts/app.sh does) on a free port of the
loopback with an empty runs folder and CIFAR10_DIR's data, opens `--tabs` contexts of headless
Chromium (CIFAR_TEST_BROWSER, default /usr/bin/chromium) on `--page`, waits `--settle` seconds
(the data decoded, the pages drawn), then reads the CPU time of Chromium's processes and of the
server over `--seconds`, as cores. An idle tab should cost next to nothing: what it costs is how
often it asks the server to redraw.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT, save
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CIFAR_TEST_BROWSER") or "/usr/bin/chromium"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of every process, by kind: chromium, server or other."""
    found: dict[str, float] = {"chromium": 0.0, "server": 0.0, "other": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        kind = "chromium" if "chrom" in command else "server" if "streamlit run" in command else "other"
        found[kind] += (int(fields[11]) + int(fields[12])) / TICKS
    return found


def serve(runs: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CIFAR_RUNS_DIR": str(runs)}
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=3).status == 200:
                return server, url
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the app did not answer: see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", type=int, default=10)
    parser.add_argument("--page", default="train")
    parser.add_argument("--settle", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as driver:
        server, url = serve(Path(folder) / "runs", Path(folder) / "app.log")
        try:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for _ in range(args.tabs):
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.goto(f"{url}/{args.page}")
                page.wait_for_selector("[data-testid='stMain']")
            time.sleep(args.settle)
            before = cpu_seconds()
            time.sleep(args.seconds)
            after = cpu_seconds()
            browser.close()
        finally:
            server.terminate()
            server.wait(timeout=60)
    cores = {kind: round((after[kind] - before[kind]) / args.seconds, 3) for kind in ("chromium", "server")}
    print(f"{args.tabs} idle tabs on /{args.page}: Chromium {cores['chromium']} cores, server {cores['server']} cores")
    command = f"python benchmarks/bench_idle_tabs.py --tabs {args.tabs} --page {args.page}"
    save(f"idle-tabs-{args.page}", command, {"tabs": args.tabs, "page": args.page, "cores": cores})


if __name__ == "__main__":
    main()
