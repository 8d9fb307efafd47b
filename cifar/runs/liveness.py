"""Whether a run's training process still runs.

A status that says queued or running was written by a process that may have died since (a
SIGKILL, a crash, a reboot); this machine's backend shows such a run as interrupted
(cifar/launch/local_backend.py). Nothing here writes. A pid means something only on the machine
that wrote it (`status.host`).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from cifar.runs.status import RunStatus

# A launched process writes its pid within a second or two; past this a queued run that never
# wrote one is taken as never started.
START_GRACE_SECONDS = 60.0


def process_alive(pid: int | None, start_ticks: int | None = None) -> bool:
    """Whether process `pid` runs, is not a zombie, and (if given) started at `start_ticks`.

    The start time guards against a recycled pid after a reboot or a long while.
    """
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel instead
        return _signal_reaches(pid)
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return start_ticks is None or int(fields[19]) == start_ticks


def _signal_reaches(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    return True


def process_start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot; None where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[19])


def training_alive(status: RunStatus) -> bool:
    """Whether the process behind a live status runs (or, before it wrote its pid, may still start)."""
    if status.pid is None:
        return time.time() - status.created_unix < START_GRACE_SECONDS
    if status.host and status.host != socket.gethostname():
        return True  # another machine's process: this one cannot see it, so the status stands
    return process_alive(status.pid, status.pid_start)
