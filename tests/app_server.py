"""The app's own server for the tests: `streamlit run streamlit_app.py` as scripts/app.sh starts
it (this folder's .streamlit/config.toml), on a free port of the loopback, ready once it answers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from helpers import ROOT, wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=3).status == 200
    except OSError:
        return False


def start_app(log_path: Path, *args: str, port: int | None = None, **env: str) -> tuple[subprocess.Popen, str]:
    """The server, with `args` after `streamlit run streamlit_app.py` and `env` on top of this
    process's environment, on `port` (default: a free one); it and its URL once its health check answers."""
    port = port or free_port()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "streamlit_app.py", "--server.port", str(port), *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{url}/_stcore/health") or process.poll() is not None, 120, "the server to answer")
    assert process.poll() is None, log_path.read_text()[-3000:]
    return process, url


def end_app(process: subprocess.Popen, how: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(how)
    process.wait(timeout=60)


@contextlib.contextmanager
def running_app(log_path: Path, *args: str, port: int | None = None, **env: str) -> Iterator[str]:
    """The server's URL while the block runs; the server is ended after it, whatever happened."""
    process, url = start_app(log_path, *args, port=port, **env)
    try:
        yield url
    finally:
        end_app(process)
