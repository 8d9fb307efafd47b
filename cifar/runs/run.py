"""Finding run directories and reading them, safely, while their trainer writes them.

Readers here never write and never act. The files of a run directory are named in layout.py,
its status in status.py. A status as written can be out of date (a process that died, a job
a cluster ended): how a run stands now is the launcher's question (cifar/launch/launcher.py
`status`), which asks the backend that started it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cifar.atomic import NUMPY_READS, read_json
from cifar.config.settings import ModelConfig
from cifar.data import CLASS_NAMES, DataError, Dataset, evaluation_set
from cifar.errors import RunError, os_errors_as
from cifar.network import saving
from cifar.runs import events as event_log
from cifar.runs.config_file import load_config
from cifar.runs.layout import RunFiles
from cifar.runs.progress import Progress
from cifar.runs.status import RunStatus, read_status

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def runs_root(runs_dir: str | os.PathLike | None = None) -> Path:
    """The runs folder: `runs_dir`, else `CIFAR_RUNS_DIR`, else ./runs."""
    chosen = runs_dir or os.environ.get("CIFAR_RUNS_DIR") or "runs"
    return Path(chosen).expanduser().absolute()


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
    if path.resolve().parent != root.resolve() or not RunFiles(path).config.is_file():
        raise RunError(f"No run {run_id!r} in {root}; `python -m cifar runs` lists them.")
    return Run(path)


def open_run_dir(path: str | os.PathLike) -> Run:
    """The run in directory `path`, for the command line where a user names a folder.

    Raises:
        RunError: `path` holds no run.
    """
    path = Path(path).absolute()
    if not RunFiles(path).config.is_file():
        raise RunError(f"{path} is not a run directory (it has no config.json).")
    return Run(path)


def find_run(text: str, runs_dir: str | os.PathLike | None = None) -> Run:
    """A run id, or the path of a run directory (as typed on the command line)."""
    if os.sep in text or (os.altsep and os.altsep in text) or RunFiles(Path(text)).config.is_file():
        return open_run_dir(text)
    return open_run(text, runs_dir)


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[Run]:
    """Every run in the runs folder, newest first."""
    root = runs_root(runs_dir)
    if not root.is_dir():
        return []
    with os_errors_as(RunError, f"Could not list the runs in {root}", "check that the runs folder can be read"):
        entries = list(root.iterdir())
    # A link to a folder elsewhere is no run here: open_run refuses it, so the listing does too.
    found = [
        Run(p)
        for p in entries
        if p.is_dir() and not p.is_symlink() and RUN_ID_PATTERN.fullmatch(p.name) and RunFiles(p).config.is_file()
    ]
    return sorted(found, key=lambda r: r.id, reverse=True)


def tested_on(run: Run, y_test: np.ndarray) -> bool:
    """Whether the run's stored predictions are of the test set whose labels are `y_test`."""
    labels = run.labels()
    return len(labels) == len(y_test) and bool((labels == y_test).all())


def images_tested_on(run: Run, data: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """The images and labels of `data` that `run` was tested on (its held-out training images,
    or the test set), or None when `data` is not the data it was tested on.

    Raises:
        RunError: the run's config cannot be read.
    """
    try:
        images, labels = evaluation_set(data, run.config().holdout)
    except DataError:  # holds out more than this data has: not its data
        return None
    return (images, labels) if tested_on(run, labels) else None


def _load_array(path: Path) -> np.ndarray:
    try:
        with NUMPY_READS:
            return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise RunError(f"{path} is missing or damaged ({error}); the run cannot show it.") from error


@dataclass(frozen=True)
class Run:
    """Read access to one run directory."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def files(self) -> RunFiles:
        return RunFiles(self.path)

    def config(self) -> ModelConfig:
        return load_config(self.files.config)

    def written_status(self) -> RunStatus:
        """The status as its writer left it."""
        return read_status(self.files.status)

    def history(self) -> dict[str, list[float]]:
        """Per-epoch lists: epoch, loss, accuracy, val_loss, val_accuracy, seconds."""
        history = read_json(self.files.history)
        return history if isinstance(history, dict) else {}

    def events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Events appended since byte `offset`, and the offset to pass next time."""
        return event_log.read_events(self.files.events, offset)

    def start_event(self) -> dict[str, Any] | None:
        """The `start` event (steps, images, parameters): the log's first line, once written."""
        return event_log.first_event(self.files.events, "start")

    def prediction_epochs(self) -> list[int]:
        """The finished epochs whose test-set predictions are stored, in order."""
        # Only epochs the history claims: predictions are written first, so a run that failed
        # while saving an epoch may hold that epoch's predictions without the epoch itself.
        claimed = set(self.history().get("epoch") or [])
        return [epoch for epoch in self.files.prediction_epochs_on_disk() if epoch in claimed]

    def weight_epochs(self) -> list[int]:
        """The finished epochs whose weights are kept (layout.py says which are)."""
        claimed = set(self.history().get("epoch") or [])
        return [epoch for epoch in self.files.weight_epochs_on_disk() if epoch in claimed]

    def inside_epochs(self) -> list[int]:
        """The finished epochs whose network can be opened: those with kept weights, and the
        last one, whose model.keras a run made before weights were kept also has."""
        epochs = set(self.weight_epochs())
        done = self.history().get("epoch") or []
        if done and self.has_model():
            epochs.add(done[-1])
        return sorted(epochs)

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
        return _load_array(self.files.prediction(epoch))

    def labels(self) -> np.ndarray:
        """The true class of every test image, in the order of the predictions."""
        return _load_array(self.files.labels)

    def class_names(self) -> tuple[str, ...]:
        data = self.written_status().data
        return data.class_names if data and data.class_names else CLASS_NAMES

    def has_model(self) -> bool:
        return self.files.model.is_file()

    def model_written_ns(self) -> int:
        """When model.keras was last written, in ns: what a cache of loaded models keys on.

        Raises:
            RunError: there is no model (the run was deleted meanwhile, say).
        """
        with os_errors_as(RunError, f"Run {self.id} has no model now", "it may have been deleted meanwhile"):
            return self.files.model.stat().st_mtime_ns

    def load_model(self):
        """The trained Keras model, loaded without running any code it carries.

        Raises:
            RunError: no model yet, or a model file this app refuses (cifar/network/saving.py).
        """
        return saving.load_model(self.files.model, self.id)

    def progress(self) -> Progress | None:
        """Where the training stands, as its latest batch event says; None before the first.

        The sidebar asks every two seconds in every open tab, so only the end of the log is read.
        """
        last = event_log.last_event(self.files.events, "batch")
        return None if last is None else Progress.from_event(last, self.written_status())

    def stop_requested(self) -> bool:
        return self.files.stop.exists()
