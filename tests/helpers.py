"""Shared by the process tests: a tiny config, starting a training process, and waiting on a
run without fixed sleeps."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from streamlit.testing.v1 import AppTest

from cifar.atomic import write_json_atomic
from cifar.config.presets import changed_fields
from cifar.config.settings import ModelConfig
from cifar.data import CLASS_NAMES
from cifar.errors import RunError
from cifar.launch import backends, launcher
from cifar.launch.backend import jobs_in_order
from cifar.network import devices
from cifar.runs.config_file import load_config, save_config
from cifar.runs.layout import RunFiles
from cifar.runs.run import Run, open_run_dir
from cifar.runs.status import DataInfo, RunStatus, read_status, write_status
from cifar.training import local_queue

ROOT = Path(__file__).resolve().parent.parent
# Small enough to train an epoch of 200 images in well under a second.
TINY = ModelConfig(
    conv_blocks=1, filters=(8,), convs_per_block=1, dense_units=16, dropout=0.0, batch_size=20, epochs=2, seed=1
)


# The README's results table: the parameters of each preset's network.
PRESET_PARAMETERS = {
    "tutorial": 1_060_138,
    "quick": 282_250,
    "fast": 357_482,
    "better": 357_482,
    "best": 289_642,
    "record": 498_690,
}


def app_page(name: str, timeout: float = 60) -> AppTest:
    """One page of the app (pages/NAME.py) for Streamlit's AppTest; `timeout` is each run's limit."""
    return AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=timeout)


def whole_app(timeout: float = 60) -> AppTest:
    """The app with its navigation (streamlit_app.py) for Streamlit's AppTest."""
    return AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)


def flags_of(config: ModelConfig, leave_out: tuple[str, ...] = ("epochs",)) -> list[str]:
    """The `train` flags that make `config` from the tutorial's defaults, `leave_out` aside."""
    flags = []
    for name in [name for name in changed_fields(config, "tutorial") if name not in leave_out]:
        value, flag = getattr(config, name), "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else f"--no-{flag[2:]}")
        else:
            flags += [flag, ",".join(map(str, value)) if isinstance(value, tuple) else str(value)]
    return flags


TINY_FLAGS = flags_of(TINY)  # the same network on the command line


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cifar", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=os.environ,
    )


def train_run(data: Path, runs_dir: Path, *flags: str, epochs: int = 2, timeout: float = 240) -> Run:
    """A finished run of the tiny network, with `flags` on top, trained by `python -m cifar train`."""
    flags = (*TINY_FLAGS, "--epochs", str(epochs), *flags)
    result = run_cli("train", "--data", str(data), "--runs-dir", str(runs_dir), *flags, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return open_run_dir(result.stdout.splitlines()[0])


def squeezed(text: str) -> str:
    """`text` without whitespace: help wraps lines (at hyphens too) to the terminal's width."""
    return "".join(text.split())


@contextlib.contextmanager
def training_in_a_terminal(batches_dir: Path, runs_dir: Path) -> Iterator[tuple[subprocess.Popen, Run]]:
    """`python -m cifar train` of a long tiny run, as typed in a terminal: the process and its run."""
    command = [sys.executable, "-m", "cifar", "train", "--data", str(batches_dir), "--runs-dir", str(runs_dir)]
    command += [*TINY_FLAGS, "--batch-size", "2", "--epochs", "300"]  # 100 steps an epoch: minutes in all
    with (
        open(runs_dir / "stderr.txt", "w") as errors,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, cwd=ROOT, env=os.environ
        ) as process,
    ):
        try:
            yield process, open_run_dir(process.stdout.readline().strip())
        finally:
            if process.poll() is None:
                process.kill()


def assert_stopped_keeping_its_epochs(run: Run) -> None:
    """`run` ended stopped on request, with every finished epoch whole and said so."""
    status = launcher.status(run)
    done = run.history()["epoch"]
    assert status.state == "stopped" and len(done) >= 1 and done == list(range(1, len(done) + 1))
    assert status.epoch == len(done) and run.prediction_epochs() == done and run.weight_epochs() == done
    kept = "the run keeps epoch 1" if len(done) == 1 else f"the run keeps epochs 1–{len(done)}"
    assert status.message.startswith("Stopped on request") and status.message.endswith(f"; {kept}."), status.message
    assert int(run.load_model().optimizer.iterations) == len(done) * run.start_event()["steps"]
    assert [event["state"] for event in run.events()[0] if event["type"] == "end"] == ["stopped"]


def run_trainer(run_dir: Path, timeout: float = 240, **options) -> subprocess.CompletedProcess:
    """`python -m cifar.training RUN_DIR --wait-in-line` on a prepared run, put in line first as
    this machine's launcher does."""
    local_queue.enqueue(run_dir)
    return subprocess.run(
        [sys.executable, "-m", "cifar.training", str(run_dir), "--wait-in-line"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=os.environ,
        **options,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_for_end(run: Run, timeout: float = 180) -> RunStatus:
    wait_until(lambda: not launcher.status(run).live, timeout, f"{run.id} to end")
    return launcher.status(run)


def kill_mid_epoch(run: Run, after: int, timeout: float = 120) -> None:
    """SIGKILL `run`'s training while it trains an epoch past its first `after` finished ones."""

    def training_a_later_epoch() -> bool:
        last = run.progress()  # the newest batch event
        return last is not None and last.epoch > after and last.batch < last.batches

    wait_until(training_a_later_epoch, timeout, f"an epoch after epoch {after} to be under way")
    os.kill(launcher.status(run).pid, signal.SIGKILL)


# Four people's best test accuracy in each of their three runs: a class board to look at.
PEOPLE = {"ann": [0.61, 0.55, 0.70], "bob": [0.40, 0.52, 0.49], "cem": [0.66, 0.31, 0.58], "dee": [0.45, 0.47, 0.30]}


def write_twelve_runs(source: Run, runs_dir: Path) -> None:
    """Twelve finished runs from four names (copies of `source`), each with its own dropout
    and the best accuracy PEOPLE gives it."""
    for who, bests in PEOPLE.items():
        for index, best in enumerate(bests):
            path = runs_dir / f"20261130-1000{index}{len(who)}-{who}-{index}"
            shutil.copytree(source.path, path)
            config = load_config(source.files.config).replace(dropout=round(0.1 * index, 1), epochs=2)
            save_config(config, RunFiles(path).config)
            history = json.loads(RunFiles(path).history.read_text())
            history["val_accuracy"] = [best - 0.1, best]
            write_json_atomic(RunFiles(path).history, history)
            write_status(RunFiles(path).status, read_status(RunFiles(path).status).replace(who=who))


class SlotHeld:
    """The machine's one training slot taken, as a long training would: every launch waits in line."""

    def __init__(self, runs_dir: Path):
        self.path = runs_dir / local_queue.SLOTS_FOLDER / "slot-0.lock"

    def take(self) -> SlotHeld:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.path.open("a")
        fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return self

    def release(self) -> None:
        self.handle.close()

    def __enter__(self) -> SlotHeld:
        return self.take()

    def __exit__(self, *exc) -> None:
        self.release()


def registered(monkeypatch, backend):
    """`backend` known by its name to the launcher for the rest of the test (cifar/launch/backends.py)."""
    monkeypatch.setitem(backends.BY_NAME, backend.name, lambda: backend)
    return backend


class FakeBackend:
    """A backend with no process and no cluster: each run's state in a dict by run id (a run it
    has no word on stands as written), and every call it was asked in `calls`. `grace` is its
    stop grace; `overdue` maps a run id to what `end_overdue` says (then the run is stopped)
    or to the error it raises; a `hung` backend's runs go on after a stop."""

    waits_in_local_queue = False

    def __init__(
        self, name: str = "fake", grace: float | None = None, cluster: str | None = None, hung=False, refuse=None
    ):
        self.name = name
        self.grace = grace
        self.cluster = cluster
        self.hung = hung
        self.refuse = refuse  # why `start` fails, in words, when it should
        self.overdue: dict[str, str | Exception] = {}
        self.states: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []

    def asked(self, action: str) -> list[str]:
        """The run ids it was asked to `action` (start, stop, end_overdue, status), in order."""
        return [run_id for done, run_id in self.calls if done == action]

    def placement(self, run_id: str) -> dict[str, str]:
        return {"job_id": run_id, **({"cluster": self.cluster} if self.cluster else {})}

    def start(self, run_dir: Path) -> None:
        self.calls.append(("start", run_dir.name))
        if self.refuse:
            raise RunError(self.refuse)
        self.states[run_dir.name] = "queued"

    def stop(self, run: Run) -> None:
        self.calls.append(("stop", run.id))
        if not self.hung:
            self.states[run.id] = "stopped"

    def stop_grace(self) -> float | None:
        return self.grace

    def end_overdue(self, run: Run) -> str | None:
        self.calls.append(("end_overdue", run.id))
        said = self.overdue.get(run.id)
        if isinstance(said, Exception):
            raise said
        if said:
            self.states[run.id] = "stopped"
        return said

    def status(self, written: RunStatus) -> RunStatus:
        self.calls.append(("status", written.job_id))
        state = self.states.get(written.job_id)
        return written.replace(state=state) if state else written

    def live_jobs(self, live):
        waiting = sorted((run for run, status in live if status.state == "queued"), key=lambda run: run.id)
        return jobs_in_order(live, waiting)


def finished_here(runs_dir, name: str, config: ModelConfig, seconds: float, **changes) -> Run:
    """A run folder as a finished training leaves it, as far as the estimate reads it."""
    path = runs_dir / f"20261207-1000{len(name):02d}-{name}"
    path.mkdir(parents=True)
    save_config(config, RunFiles(path).config)
    images = min(50_000, config.train_size or 50_000)
    status = RunStatus(
        state="finished",
        machine=devices.machine(),
        started="2026-12-07T10:00:00+00:00",
        ended=f"2026-12-07T10:{int(seconds) // 60:02d}:{int(seconds) % 60:02d}+00:00",
        data=DataInfo("CIFAR-10", CLASS_NAMES, images, 10_000),
    )
    write_status(RunFiles(path).status, status.replace(**changes))
    return Run(path)


def report_progress(
    run_dir: Path, epoch: int, epochs: int, eta_seconds: float, batch: int = 5, batches: int = 10
) -> None:
    """The event a training writes after a batch: epoch `epoch` of `epochs`, `batch` of
    `batches` done, `eta_seconds` left."""
    event = {"type": "batch", "time": 0, "epoch": epoch, "epochs": epochs, "batch": batch, "batches": batches}
    with RunFiles(run_dir).events.open("a") as events:
        events.write(json.dumps({**event, "eta_seconds": eta_seconds}) + "\n")
