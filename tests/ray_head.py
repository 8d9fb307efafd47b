"""A real one-machine Ray cluster for the tests and the benchmark: `ray start --head --block`
in a short temporary folder, on ports of its own, all of its traffic on the loopback, and
stopped by its process group (never `ray stop`, which would stop every Ray on the machine)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app_server import free_port


@dataclass(frozen=True)
class RayHead:
    address: str  # the dashboard, for the Job Submission API
    process: subprocess.Popen
    temp_dir: Path
    log: Path


def _job_api_answers(address: str) -> bool:
    from ray.job_submission import JobSubmissionClient

    try:
        JobSubmissionClient(address).list_jobs()
    except Exception:  # not up yet: the dashboard starts its job module last
        return False
    return True


def start_head(cpus: int = 2, timeout: float = 180) -> RayHead:
    """Start a head node that offers `cpus` CPUs; return once its Job API answers.

    Its PATH starts with this Python's folder: the project's environment, active on the
    "machine" as the README asks, so that a job's `python` is the project's.
    """
    # Unix socket paths are limited to 108 bytes: Ray's session folders sit under this one.
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    dashboard = free_port()
    ray = Path(sys.executable).parent / "ray"
    command = [str(ray), "start", "--head", "--block", "--num-cpus", str(cpus), "--temp-dir", str(temp_dir)]
    command += ["--port", str(free_port()), "--dashboard-port", str(dashboard), "--dashboard-host", "127.0.0.1"]
    command += ["--node-ip-address", "127.0.0.1", "--ray-client-server-port", str(free_port())]
    command += ["--dashboard-agent-listen-port", str(free_port()), "--include-dashboard", "true"]
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # Without it Ray turns --node-ip-address 127.0.0.1 into the machine's outward address.
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    log = temp_dir / "head.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=temp_dir
        )
    head = RayHead(f"http://127.0.0.1:{dashboard}", process, temp_dir, log)
    deadline = time.monotonic() + timeout
    while not _job_api_answers(head.address):
        if process.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace")[-3000:]
            stop_head(head)
            raise RuntimeError(f"the Ray head did not start (exit {process.poll()}):\n{text}")
        time.sleep(0.5)
    return head


def stop_head(head: RayHead, grace: float = 15) -> None:
    """End the head and every process it started (its process group), then remove its folder."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        head.process.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.process.pid, signal.SIGKILL)  # what its drain left: the store, the raylet
    head.process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the last of the group has gone: none writes to the folder after
        try:
            os.killpg(head.process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    shutil.rmtree(head.temp_dir, ignore_errors=True)


@contextlib.contextmanager
def ray_head(cpus: int = 2) -> Iterator[RayHead]:
    head = start_head(cpus)
    try:
        yield head
    finally:
        stop_head(head)
