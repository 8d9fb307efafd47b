"""Run directories: where they live, how they are laid out, and reading them safely.

A run directory is the only interface between a training process and its readers
(../shared/DESIGN.md). The trainer owns every file in it; readers here never write, and
never see a half-written file: whole files are renamed into place, and the event log is
append-only, with a torn last line ignored.

    <runs>/<id>/config.json            the ModelConfig, written first
                status.json            state, times, process id, error in words
                events.jsonl           live events: start, batch, validate, epoch, end
                history.json           per-epoch train and validation loss and accuracy
                model.keras            the model after the last finished epoch
                labels.npy             test labels (uint8), for the predictions below
                predictions/epoch-NNN.npy   test-set class probabilities, float16 (N, 10)
                log.txt                the process's own output, when launched by cifar.jobs
                stop                   present when a stop was requested
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cifar.files import read_json
from cifar.model import ModelConfig, load_config

LIVE_STATES = ("queued", "running")
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# A launched process writes its pid within a second or two; past this a queued run that
# never wrote one is taken as never started.
START_GRACE_SECONDS = 60.0


class RunError(ValueError):
    """A run id that is malformed, reaches outside the runs folder, or names no run."""


def runs_root(runs_dir: str | os.PathLike | None = None) -> Path:
    """The runs folder: `runs_dir`, else `CIFAR_RUNS_DIR`, else ./runs."""
    chosen = runs_dir or os.environ.get("CIFAR_RUNS_DIR") or "runs"
    return Path(chosen).expanduser().absolute()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40] or "run"


def create_run_dir(runs_dir: Path, name: str) -> Path:
    """A new, empty run directory named `<time>-<name>-<random>`; never reuses one."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    while True:
        path = runs_dir / f"{stamp}-{slugify(name)}-{secrets.token_hex(2)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def check_run_id(run_id: str) -> str:
    """`run_id` itself, or RunError when it is not a plain folder name."""
    # fullmatch: `$` alone would let a trailing newline through.
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id) or ".." in run_id:
        shown = str(run_id)[:60]
        raise RunError(
            f"{shown!r} is not a run id: ids are letters, digits, '.', '-' and '_' "
            "(at most 100), like 20261129-153501-tutorial-a1b2."
        )
    return run_id


def open_run(run_id: str, runs_dir: str | os.PathLike | None = None) -> Run:
    """The run with id `run_id` inside the runs folder; nothing outside it is ever reached.

    Raises:
        RunError: the id is malformed or there is no such run.
    """
    root = runs_root(runs_dir)
    path = root / check_run_id(run_id)
    if path.resolve().parent != root.resolve() or not (path / "config.json").is_file():
        raise RunError(f"No run {run_id!r} in {root}; `python -m cifar runs` lists them.")
    return Run(path)


def open_run_dir(path: str | os.PathLike) -> Run:
    """The run in directory `path`, for the command line where a user names a folder.

    Raises:
        RunError: `path` holds no run.
    """
    path = Path(path).absolute()
    if not (path / "config.json").is_file():
        raise RunError(f"{path} is not a run directory (it has no config.json).")
    return Run(path)


def find_run(text: str, runs_dir: str | os.PathLike | None = None) -> Run:
    """A run id, or the path of a run directory (as typed on the command line)."""
    if os.sep in text or (os.altsep and os.altsep in text) or Path(text, "config.json").is_file():
        return open_run_dir(text)
    return open_run(text, runs_dir)


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[Run]:
    """Every run in the runs folder, newest first."""
    root = runs_root(runs_dir)
    if not root.is_dir():
        return []
    # A link to a folder elsewhere is no run here: open_run refuses it, so the listing does too.
    found = [
        Run(p)
        for p in root.iterdir()
        if p.is_dir() and not p.is_symlink() and RUN_ID_PATTERN.fullmatch(p.name) and (p / "config.json").is_file()
    ]
    return sorted(found, key=lambda r: r.id, reverse=True)


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
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = stat[stat.rfind(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return start_ticks is None or int(fields[19]) == start_ticks


def process_start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[19])


def _load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise RunError(f"{path} is missing or damaged ({error}); the run cannot show it.") from error


def _model_refusal(run_id: str, path: Path, error: Exception) -> str:
    """Why run `run_id`'s model file `path` was not loaded, in words a student can act on."""
    reason = str(error)
    if "safe_mode" in reason or "arbitrary code" in reason:
        return (
            f"Run {run_id}'s model holds Python code (a Lambda or custom layer), and this app never runs code "
            "from a model file. Train the model here instead."
        )
    if not zipfile.is_zipfile(path):  # Keras says "File not found" for these, which misleads
        detail = "it is not a .keras archive: empty, cut short or another kind of file"
    else:
        detail = reason.splitlines()[0][:160] if reason else type(error).__name__
    return (
        f"Run {run_id}'s model.keras is damaged or is not a Keras model this app can read ({detail}). "
        "Its curves and predictions still show; train it again for a model."
    )


@dataclass(frozen=True)
class Run:
    """Read access to one run directory."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    def config(self) -> ModelConfig:
        return load_config(self.path / "config.json")

    def raw_status(self) -> dict[str, Any]:
        return read_json(self.path / "status.json") or {}

    def status(self) -> dict[str, Any]:
        """The status as written, with `state` corrected to `interrupted` for a dead process."""
        status = self.raw_status()
        state = status.get("state", "queued")
        if state in LIVE_STATES and not self._alive(status):
            status["written_state"] = state
            status["state"] = "interrupted"
            done = status.get("epoch", 0)
            status.setdefault(
                "message",
                f"The training process ended without finishing (killed or crashed); "
                f"the run keeps {done} finished epoch{'s' if done != 1 else ''}.",
            )
        status.setdefault("state", state)
        return status

    def _alive(self, status: dict[str, Any]) -> bool:
        pid = status.get("pid")
        if pid is None:
            created = status.get("created_unix", 0)
            return time.time() - created < START_GRACE_SECONDS
        return process_alive(pid, status.get("pid_start"))

    def history(self) -> dict[str, list[float]]:
        """Per-epoch lists: epoch, loss, accuracy, val_loss, val_accuracy, seconds."""
        return read_json(self.path / "history.json") or {}

    def events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events appended since byte `offset`, and the offset to pass next time.

        A last line without its newline is still being written: it is left for the next call.
        """
        try:
            with open(self.path / "events.jsonl", "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError:
            return [], offset
        complete = chunk[: chunk.rfind(b"\n") + 1]
        events = []
        for line in complete.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line damaged by a crash mid-write; the rest still count
        return events, offset + len(complete)

    def prediction_epochs(self) -> list[int]:
        """The finished epochs whose test-set predictions are stored, in order."""
        folder = self.path / "predictions"
        if not folder.is_dir():
            return []
        epochs = [int(m.group(1)) for p in folder.iterdir() if (m := re.fullmatch(r"epoch-(\d+)\.npy", p.name))]
        # Only epochs the history claims: predictions are written first, so a run that failed
        # while saving an epoch may hold that epoch's predictions without the epoch itself.
        claimed = set(self.history().get("epoch") or [])
        return sorted(epoch for epoch in epochs if epoch in claimed)

    def predictions(self, epoch: int | None = None) -> np.ndarray:
        """Test-set class probabilities (float16, N × classes) after `epoch` (default: the last).

        Raises:
            RunError: no epoch has finished yet, or that epoch has no predictions.
        """
        epochs = self.prediction_epochs()
        if not epochs:
            raise RunError(f"Run {self.id} has no finished epoch yet, so no predictions.")
        epoch = epochs[-1] if epoch is None else epoch
        if epoch not in epochs:
            raise RunError(f"Run {self.id} has predictions for epochs {epochs[0]}–{epochs[-1]}; got {epoch}.")
        return _load_array(self.path / "predictions" / f"epoch-{epoch:03d}.npy")

    def labels(self) -> np.ndarray:
        """The true class of every test image, in the order of the predictions."""
        return _load_array(self.path / "labels.npy")

    def class_names(self) -> tuple[str, ...]:
        from cifar.data import CLASS_NAMES

        names = self.raw_status().get("data", {}).get("class_names")
        return tuple(names) if names else CLASS_NAMES

    def has_model(self) -> bool:
        return (self.path / "model.keras").is_file()

    def load_model(self):
        """The trained Keras model, loaded with `safe_mode`: a model file that carries code
        (a Lambda layer, a class from outside Keras) is refused, never run.

        Raises:
            RunError: the run has no model yet, or its model.keras carries code, is a link to
                another file, or is damaged; the message says which, in words.
        """
        import keras

        path = self.path / "model.keras"
        if not self.has_model():
            raise RunError(f"Run {self.id} has no model yet: no epoch has finished.")
        if path.is_symlink():  # the trainer renames a real file into place; a link points elsewhere
            raise RunError(f"Run {self.id}'s model.keras is a link to another file; only a run's own model is loaded.")
        try:
            return keras.saving.load_model(path, safe_mode=True)
        except Exception as error:  # Keras raises ValueError, TypeError, OSError... for a bad file
            raise RunError(_model_refusal(self.id, path, error)) from error

    def progress(self) -> dict[str, Any] | None:
        """The latest batch event with `epochs` and `fraction` (0 to 1) of the whole run done.

        Reads only the end of the event log: the sidebar asks every two seconds, in every
        open tab, and a 10-epoch run's log grows to a few hundred kilobytes. None before the
        first batch event.
        """
        last = self._last_event("batch")
        if last is None:
            return None
        status = self.raw_status()
        epochs = status.get("epochs") or 1
        # A continued run counts its own epochs: its bar starts at 0, its text at the parent's end.
        start = status.get("start_epoch") or 0
        done = (last["epoch"] - 1 - start + last["batch"] / last["batches"]) / max(epochs - start, 1)
        return {**last, "epochs": epochs, "fraction": min(max(done, 0.0), 1.0)}

    def start_event(self) -> dict[str, Any] | None:
        """The `start` event (steps, images, parameters): the log's first line, once written."""
        try:
            with open(self.path / "events.jsonl", "rb") as handle:
                line = handle.readline(65_536)
        except FileNotFoundError:
            return None
        try:
            event = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            return None
        return event if isinstance(event, dict) and event.get("type") == "start" else None

    def _last_event(self, kind: str, tail_bytes: int = 16_384) -> dict[str, Any] | None:
        path = self.path / "events.jsonl"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        events, _ = self.events(max(0, size - tail_bytes))  # the first line may be cut: skipped
        found = [event for event in events if event.get("type") == kind]
        return found[-1] if found else None

    def stop_requested(self) -> bool:
        return (self.path / "stop").exists()

    def summary(self) -> dict[str, Any]:
        """One row for a table of runs: id, name, state, epochs, accuracy, duration."""
        status = self.status()
        history = self.history()
        val = history.get("val_accuracy") or []
        return {
            "id": self.id,
            "name": status.get("name", ""),
            "state": status["state"],
            "epoch": status.get("epoch", 0),
            "epochs": status.get("epochs"),
            "final_accuracy": val[-1] if val else None,
            "best_accuracy": max(val) if val else None,
            "seconds": sum(history.get("seconds") or []) or None,
            "created": status.get("created"),
        }
