"""The files of a run directory: the one place that names them.

A run directory is the only interface between a training process and its readers
(../shared/DESIGN.md). The trainer owns every file in it; readers never write, and never see
a half-written file: whole files are renamed into place, and the event log is append-only.

    <runs>/<id>/config.json            the ModelConfig, written first
                status.json            a RunStatus: state, times, process id, error in words
                events.jsonl           live events: start, batch, validate, epoch, end
                history.json           per-epoch train and validation loss and accuracy
                model.keras            the model after the last finished epoch
                labels.npy             test labels (uint8), for the predictions below
                predictions/epoch-NNN.npy   test-set class probabilities, float16 (N, 10)
                log.txt                the training process's own output, when launched
                stop                   present when a stop was requested
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_PREDICTION_NAME = re.compile(r"epoch-(\d+)\.npy")


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

    def prediction(self, epoch: int) -> Path:
        return self.predictions / f"epoch-{epoch:03d}.npy"

    def prediction_epochs_on_disk(self) -> list[int]:
        """Epochs whose prediction file exists, in order (whether or not the history has them)."""
        if not self.predictions.is_dir():
            return []
        found = (_PREDICTION_NAME.fullmatch(path.name) for path in self.predictions.iterdir())
        return sorted(int(match.group(1)) for match in found if match)
