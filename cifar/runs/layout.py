"""The files of a run directory: the one place that names them.

A run directory is the only interface between a training process and its readers
(../shared/DESIGN.md). The trainer owns every file in it but the stop and control files, which
the launcher writes to ask something of it; readers never write, and never see
a half-written file: whole files are renamed into place, and the event log is append-only.

    <runs>/<id>/config.json            the ModelConfig, written first
                status.json            a RunStatus: state, times, process id, error in words
                events.jsonl           live events: start, batch, validate, epoch, end
                history.json           per-epoch train and validation loss and accuracy
                model.keras            the model after the last finished epoch
                labels.npy             test labels (uint8), for the predictions below
                predictions/epoch-NNN.npy   test-set class probabilities, float16 (N, 10)
                weights/epoch-NNN.npz     the layers' weights after epoch NNN (`kept_epoch` says which)
                log.txt                the training process's own output, when launched
                stop                   present when a stop was requested
                control.json           what the owner or a teacher asks of the training while it
                                       runs (cifar/runs/control.py); the launcher writes it, under
                control.lock           a lock held while a request is added
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cifar.errors import RunError, os_errors_as

_PREDICTION_NAME = re.compile(r"epoch-(\d+)\.npy")
_WEIGHTS_NAME = re.compile(r"epoch-(\d+)\.npz")
# Weights are kept for every epoch up to this one, then for every tenth, and always for the last:
# a 500-epoch run keeps 95 files (epochs 1-50, then 60, 70 ... 500), not 500.
KEEP_EVERY_EPOCH_UP_TO, KEEP_EVERY_NTH_AFTER = 50, 10


def kept_epoch(epoch: int) -> bool:
    """Whether epoch `epoch`'s weights stay once a later epoch has finished."""
    return epoch <= KEEP_EVERY_EPOCH_UP_TO or epoch % KEEP_EVERY_NTH_AFTER == 0


@dataclass(frozen=True)
class RunFiles:
    """The paths of one run directory's files."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    @property
    def model(self) -> Path:
        return self.root / "model.keras"

    @property
    def labels(self) -> Path:
        return self.root / "labels.npy"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    @property
    def stop(self) -> Path:
        return self.root / "stop"

    @property
    def control(self) -> Path:
        return self.root / "control.json"

    @property
    def control_lock(self) -> Path:
        return self.root / "control.lock"

    @property
    def weights(self) -> Path:
        return self.root / "weights"

    def weights_file(self, epoch: int) -> Path:
        return self.weights / f"epoch-{epoch:03d}.npz"

    def weight_epochs_on_disk(self) -> list[int]:
        """Epochs whose weights file exists, in order."""
        return _epochs_in(self.weights, _WEIGHTS_NAME)

    def prediction(self, epoch: int) -> Path:
        return self.predictions / f"epoch-{epoch:03d}.npy"

    def prediction_epochs_on_disk(self) -> list[int]:
        """Epochs whose prediction file exists, in order (whether or not the history has them)."""
        return _epochs_in(self.predictions, _PREDICTION_NAME)


def _epochs_in(folder: Path, pattern: re.Pattern) -> list[int]:
    if not folder.is_dir():
        return []
    with os_errors_as(RunError, f"Could not list {folder}", "check that the runs folder can be read"):
        names = [path.name for path in folder.iterdir()]
    found = (pattern.fullmatch(name) for name in names)
    return sorted(int(match.group(1)) for match in found if match)


CLASS_FOLDER = ".class"


@dataclass(frozen=True)
class ClassFiles:
    """The runs folder's files that belong to the class rather than to one run.

    <runs>/audit.jsonl              every action and refusal, a line each, append-only
           .class/secret            the key that signs sign-in tokens (readable by the server only)
                  names.json        the names signed in now, each with the sign-in that holds it
                  rules.json        the teacher's limits for the class
                  paused            present while the teacher has paused the queue
                  board.json        where the class board starts, and the earlier boards' names
                  audit-started     when the audit log was started, so a deleted one is noticed
                  lock, launch      flocks: while these files change; while a student's launch is made
    """

    runs: Path

    @property
    def folder(self) -> Path:
        return self.runs / CLASS_FOLDER

    @property
    def audit(self) -> Path:
        return self.runs / "audit.jsonl"

    @property
    def audit_started(self) -> Path:
        return self.folder / "audit-started"

    @property
    def secret(self) -> Path:
        return self.folder / "secret"

    @property
    def names(self) -> Path:
        return self.folder / "names.json"

    @property
    def rules(self) -> Path:
        return self.folder / "rules.json"

    @property
    def paused(self) -> Path:
        return self.folder / "paused"

    @property
    def board(self) -> Path:
        return self.folder / "board.json"
