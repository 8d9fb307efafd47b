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


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of this benchmark's own processes: the server's and the browser's
    (the Chromium processes this one started), never another program's."""
    parent, seconds, command = {}, {}, {}
    for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parent[pid], seconds[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS

    def under(root: int) -> set[int]:
        found, grown = {root}, True
        while grown:
            more = {pid for pid, up in parent.items() if up in found} - found
            found, grown = found | more, bool(more)
        return found

    server = under(server_pid)
    browser = {pid for pid in under(os.getpid()) - server if "chrom" in command.get(pid, "")}
    return {"server": sum(seconds.get(pid, 0.0) for pid in server), "chromium": sum(seconds[pid] for pid in browser)}


def serve(runs: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CIFAR_RUNS_DIR": str(runs)}
    command = [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port)]
    with log.open("wb") as output:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=3).status == 200:
                return server, url
        except OSError:
            time.sleep(0.5)
    server.terminate()
    server.wait(timeout=60)
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
            before = cpu_seconds(server.pid)
            time.sleep(args.seconds)
            after = cpu_seconds(server.pid)
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
