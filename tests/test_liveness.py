"""cifar.runs.liveness: whether a run's training process still runs: a reused pid (another start
time), a zombie and a reaped process are dead; another machine's pid is taken on its word; a
status without a pid is given its start grace."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cifar.runs import liveness
from cifar.runs.liveness import START_GRACE_SECONDS, process_alive, process_start_ticks, training_alive
from cifar.runs.status import RunStatus


@pytest.fixture
def sleeper(tmp_path):
    """A child process that sleeps, under a name with ") " in it, as a process may be named."""
    odd_name = tmp_path / "a) R 1 2"
    odd_name.symlink_to("/bin/sleep")
    started = time.time()
    child = subprocess.Popen([str(odd_name), "60"])
    yield child, started
    child.kill()
    child.wait()


def _ended_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _boot_time() -> int:
    line = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    return int(line.split()[1])


def test_no_pid_is_no_process():
    assert process_alive(None) is False and process_alive(0) is False


def test_this_process_runs_and_a_reaped_one_does_not():
    assert process_alive(os.getpid()) is True
    assert process_alive(_ended_pid()) is False


def test_the_start_time_is_read_past_a_name_with_brackets_and_spaces(sleeper):
    child, started = sleeper
    ticks = process_start_ticks(child.pid)
    # Clock ticks since boot, against the wall clock: within the second btime is rounded to.
    assert abs(_boot_time() + ticks / os.sysconf("SC_CLK_TCK") - started) < 2.0
    assert process_alive(child.pid) is True and process_alive(child.pid, ticks) is True


def test_a_reused_pid_with_another_start_time_is_not_the_training(sleeper):
    child, _ = sleeper
    ticks = process_start_ticks(child.pid)
    assert process_alive(child.pid, ticks + 1) is False and process_alive(child.pid, ticks - 100) is False


def test_a_zombie_is_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Wait for it to exit without reaping it: until reaped it stays a zombie.
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert process_alive(child.pid) is False
    finally:
        child.wait()


def test_start_ticks_of_no_process_are_none():
    assert process_start_ticks(_ended_pid()) is None


def test_without_proc_the_kernel_is_asked_instead(monkeypatch):
    class NoProc(type(Path())):
        def read_text(self, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(self))  # not "no such process"

    monkeypatch.setattr(liveness, "Path", NoProc)
    assert process_alive(os.getpid()) is True
    assert process_alive(_ended_pid()) is False
    assert process_alive(1) is True  # another user's or root's process exists all the same
    assert process_start_ticks(os.getpid()) is None


def test_a_status_without_a_pid_may_still_start_within_the_grace():
    assert START_GRACE_SECONDS == 60.0
    assert training_alive(RunStatus(state="queued", created_unix=time.time() - 5)) is True
    assert training_alive(RunStatus(state="queued", created_unix=time.time() - 61)) is False
    assert training_alive(RunStatus(state="queued")) is False  # no creation time at all: long ago


def test_a_pid_on_this_machine_is_checked_with_its_start_time(sleeper):
    child, _ = sleeper
    ticks = process_start_ticks(child.pid)
    here = socket.gethostname()
    assert training_alive(RunStatus(state="running", host=here, pid=child.pid, pid_start=ticks)) is True
    assert training_alive(RunStatus(state="running", host=here, pid=child.pid, pid_start=ticks + 1)) is False
    assert training_alive(RunStatus(state="running", host=here, pid=_ended_pid())) is False


def test_a_status_without_a_host_is_taken_as_this_machines():
    # Written before statuses named their host.
    assert training_alive(RunStatus(state="running", pid=_ended_pid())) is False
    assert training_alive(RunStatus(state="running", pid=os.getpid())) is True


def test_another_machines_pid_is_taken_on_its_word():
    elsewhere = "not-" + socket.gethostname()
    assert training_alive(RunStatus(state="running", host=elsewhere, pid=_ended_pid(), pid_start=1)) is True
