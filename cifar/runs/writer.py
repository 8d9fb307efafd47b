"""The training process's side of a run directory: it alone writes status, events, history,
the model and the predictions (cifar/runs/layout.py names the files)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cifar.atomic import read_json, save_npy_atomic, write_json_atomic
from cifar.network.saving import save_model, save_weights
from cifar.runs.events import EventLog
from cifar.runs.layout import RunFiles, kept_epoch
from cifar.runs.status import read_status, write_status

if TYPE_CHECKING:
    import numpy as np

HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds")


class RunWriter:
    """Writes one run as it trains; a reader sees each file whole or not at all."""

    def __init__(self, run_dir: Path) -> None:
        self.files = RunFiles(run_dir)
        self.status = read_status(self.files.status)
        # A continued run starts with its parent's history and carries on from there.
        earlier = read_json(self.files.history)
        earlier = earlier if isinstance(earlier, dict) else {}
        self.history: dict[str, list] = {key: list(earlier.get(key, [])) for key in HISTORY_KEYS}
        self._events = EventLog(self.files.events)

    def set_status(self, **changes: Any) -> None:
        self.status = self.status.replace(**changes)
        write_status(self.files.status, self.status)

    def event(self, kind: str, **fields: Any) -> None:
        self._events.append(kind, **fields)

    def end(self, state: str, **status: Any) -> None:
        """End the run as `state`: the log's "end" event, then the status. A reader that sees
        an ended status finds the whole log (the event carries the status's error, if any)."""
        error = status.get("error")
        try:
            self.event("end", state=state, **({"error": error} if error else {}))
        finally:  # a log that cannot be written (a full disk) still lets the status say how it ended
            self.set_status(state=state, **status)

    def save_labels(self, labels: np.ndarray) -> None:
        save_npy_atomic(self.files.labels, labels)

    def save_epoch(self, model, epoch: int, values: dict[str, float], probabilities: np.ndarray) -> float:
        """Predictions, weights, then model, then history: a reader that sees epoch k in the
        history finds its predictions, its weights and a model at least that far along.

        Returns:
            Seconds spent writing this epoch's weights file.
        """
        save_npy_atomic(self.files.prediction(epoch), probabilities.astype("float16"))
        started = time.monotonic()
        save_weights(model, self.files.weights_file(epoch))
        weights_seconds = time.monotonic() - started
        save_model(model, self.files.model)
        self.history["epoch"].append(epoch)
        for key, value in values.items():
            self.history[key].append(round(float(value), 6))
        write_json_atomic(self.files.history, self.history)
        self.set_status(epoch=epoch)
        self._drop_weights_before(epoch)
        return weights_seconds

    def _drop_weights_before(self, epoch: int) -> None:
        """The previous epoch's weights, kept while it was the last, go unless `kept_epoch` keeps them."""
        for earlier in self.files.weight_epochs_on_disk():
            if earlier < epoch and not kept_epoch(earlier):
                self.files.weights_file(earlier).unlink(missing_ok=True)

    def close(self) -> None:
        self._events.close()
