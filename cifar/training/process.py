"""The training process: `python -m cifar.training RUN_DIR` trains the run a launcher prepared.

The launcher (cifar/launch/launcher.py, or `python -m cifar train`) writes RUN_DIR's config and
a queued status. With `--wait-in-line` (this machine's backend) the process waits its turn in
the local queue first (cifar/training/local_queue.py); then it fits the model (fit.py) and
writes the run as it goes (cifar/runs/writer.py). Validation is on the test set at the end of
every epoch, as in the tutorial, in one pass that yields the validation loss, accuracy and the
stored class probabilities together.

Exit codes: 0 finished, 1 failed, 2 no run in RUN_DIR, 3 stopped on request.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

# Nothing imported here needs more than the standard library: a Python that lacks the project's
# packages reaches `main`, which says so (`missing_package`), rather than a traceback.
from cifar.errors import CifarError
from cifar.runs.layout import RunFiles
from cifar.runs.liveness import process_start_ticks
from cifar.runs.status import now_iso
from cifar.runs.writer import RunWriter
from cifar.training import local_queue

TRAINER_MODULE = "cifar.training"  # `python -m cifar.training RUN_DIR`, on any machine that has this package
# The folder that holds the package: on a trainer's PYTHONPATH, here or on a cluster's machine
# (where it is on storage every machine sees, like the runs).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAIT_IN_LINE = "--wait-in-line"
EXIT_FINISHED, EXIT_FAILED, EXIT_NO_RUN, EXIT_STOPPED = 0, 1, 2, 3
TRAINER_PACKAGES = ("numpy", "tensorflow", "keras", "PIL")  # what a training imports beyond the standard library
# Training yields the CPU to the web server when both want it (benchmarks/bench_app.py
# measures pages while a training runs); alone, it runs as fast.
NICENESS = 10


class StopRequested(Exception):
    """A stop arrived before training began."""


def trainer_command(run_dir: Path, wait_in_line: bool, python: str = sys.executable) -> list[str]:
    """The command that trains the prepared run in `run_dir` with `python`, waiting its turn in
    this machine's line first where `wait_in_line`."""
    return [python, "-m", TRAINER_MODULE, str(run_dir), *([WAIT_IN_LINE] if wait_in_line else [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {TRAINER_MODULE}",
        description="Train the run prepared in RUN_DIR (its config.json and status.json), as a launcher "
        "starts it. To train from a terminal, use `python -m cifar train`.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    parser.add_argument(WAIT_IN_LINE, action="store_true", help="wait for a turn in this machine's line first")
    args = parser.parse_args(argv)
    run_dir = args.run_dir.absolute()
    if not RunFiles(run_dir).config.is_file() or not RunFiles(run_dir).status.is_file():
        print(f"error: {run_dir} holds no prepared run (config.json and status.json).", file=sys.stderr)
        return EXIT_NO_RUN
    missing = missing_package()
    if missing:
        return fail_without(missing, run_dir)
    return run_training(run_dir, args.wait_in_line)


def missing_package() -> str | None:
    """The first package a training needs that this Python lacks; found without importing any."""
    return next((name for name in TRAINER_PACKAGES if importlib.util.find_spec(name) is None), None)


def fail_without(package: str, run_dir: Path) -> int:
    """End the run as failed, saying which Python lacks `package` and what to do; return the exit code."""
    writer = RunWriter(run_dir)
    if writer.status.cluster:
        advice = (
            "on every machine of the cluster, activate the project's environment (scripts/setup.sh "
            "requirements-cluster.txt, then . .venv/bin/activate) before `ray start`"
        )
    else:
        advice = "train with the project's environment (scripts/setup.sh, then .venv/bin/python)"
    lacks = f"lacks the project's packages (No module named {package!r})"
    message = f"This machine's Python ({sys.executable}) {lacks}: {advice}."
    print(f"failed: {message}", file=sys.stderr)  # a cluster shows the job's output
    with contextlib.suppress(OSError):
        pid = os.getpid()
        here = {"host": socket.gethostname(), "pid": pid, "pid_start": process_start_ticks(pid)}
        writer.end("failed", ended=now_iso(), error=message, **here)
    writer.close()
    return EXIT_FAILED


def lower_priority(niceness: int) -> None:
    """Raise this process's niceness by `niceness`, for every thread it has and will have.

    Linux keeps a niceness per thread, and a new thread takes its creator's: so the main
    thread goes first (TensorFlow's pools are made from it later), then any thread that
    already runs (a library's background thread started at import).
    """
    target = os.nice(niceness)
    tasks = Path("/proc/self/task")
    if tasks.is_dir():
        for task in tasks.iterdir():
            with contextlib.suppress(OSError, ValueError):  # a thread may end meanwhile
                os.setpriority(os.PRIO_PROCESS, int(task.name), target)


def _stop_signals(run_dir: Path) -> Callable[[], bool]:
    """A check for a stop: SIGTERM, SIGINT (Ctrl-C) or the run's stop file."""
    received = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: received.append(number))
    stop_file = RunFiles(run_dir).stop
    return lambda: bool(received) or stop_file.exists()


def run_training(run_dir: Path, wait_in_line: bool) -> int:
    """Train the prepared run in `run_dir`, writing the run as it goes; return the exit code.

    With `wait_in_line`, the run waits its turn in this machine's line first (its launcher put
    it there); a cluster's run starts when the cluster starts it.
    """
    lower_priority(NICENESS)
    should_stop = _stop_signals(run_dir)
    writer = RunWriter(run_dir)
    pid = os.getpid()
    writer.set_status(state="queued", pid=pid, pid_start=process_start_ticks(pid), host=socket.gethostname())
    in_line, slot = writer.status, None
    try:
        if wait_in_line:
            slot = local_queue.wait_for_turn(run_dir, in_line, should_stop)
        else:
            local_queue.wait_while_paused(run_dir.parent, should_stop)
        if (wait_in_line and slot is None) or should_stop():  # a cluster may start it after its stop was asked
            raise StopRequested
        writer.set_status(state="running", started=now_iso())
        local_queue.leave(run_dir, in_line)
        return _fit(run_dir, writer, should_stop)
    except StopRequested:
        writer.end("stopped", ended=now_iso(), message="Stopped before training began.")
        return EXIT_STOPPED
    except Exception as error:  # every failure ends as a `failed` run with the reason in words
        message = failure_message(error)
        traceback.print_exc()
        writer.end("failed", ended=now_iso(), error=message)
        print(f"failed: {message}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        local_queue.leave(run_dir, in_line)
        writer.close()
        if slot is not None:
            slot.close()


def _fit(run_dir: Path, writer: RunWriter, should_stop: Callable[[], bool]) -> int:
    """Fit the model and end the run as finished or stopped; return the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, before its first import
    # Only here, where this Python is known to have the packages (`missing_package`): fit
    # imports NumPy, TensorFlow and Keras.
    from cifar.training import fit

    stopped = fit.train(run_dir, writer, should_stop)
    if stopped is not None:
        writer.end("stopped", ended=now_iso(), message=stopped)
        return EXIT_STOPPED
    writer.end("finished", ended=now_iso())
    return EXIT_FINISHED


def failure_message(error: BaseException) -> str:
    """The reason a training failed, in words a student can act on."""
    if isinstance(error, CifarError):
        return str(error)
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        return (
            "Training ran out of memory. Try a smaller batch size, fewer filters or dense units, or fewer conv blocks."
        )
    if isinstance(error, OSError):
        where = error.filename or "the runs folder"
        reason = error.strerror or error
        return f"Could not write the run ({reason}): check that {where} is writable and the disk has room."
    return f"{type(error).__name__}: {error}"
