"""Whether a run's training process still runs, and the state a reader should show.

A status that says queued or running was written by a process that may have died since (a
SIGKILL, a crash, a reboot). Readers check the process and show such a run as interrupted;
nothing here writes. A pid means something only on the machine that wrote it (`status.host`);
a run on a Ray cluster is Ray's to tell (cifar/cluster.py asks it).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from cifar.status import RunStatus

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


def effective_status(status: RunStatus) -> RunStatus:
    """`status`, with a queued or running state whose process has ended shown as interrupted;
    a Ray cluster's run as Ray and its trainer say (`cifar.cluster.cluster_status`)."""
    if not status.live:
        return status
    if status.backend == "ray":
        from cifar import cluster  # it imports Ray only when it asks the cluster

        return cluster.cluster_status(status)
    if training_alive(status):
        return status
    done = status.epoch
    message = status.message or (
        "The training process ended without finishing (killed or crashed); "
        f"the run keeps {done} finished epoch{'s' if done != 1 else ''}."
    )
    return status.replace(state="interrupted", message=message)
