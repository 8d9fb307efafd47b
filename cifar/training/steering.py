"""Steering a training while it runs: the trainer's side of the control file.

Between batches the recorder (recorder.py) asks `Steering` to read the run's control file
(cifar/runs/control.py) when it has changed, and carries out each new request once, in order:
pause and resume, a new learning rate (the schedule rescaled so that its rate now is the one
asked for: cifar/network/schedule.py), more or fewer epochs, stop after this epoch, and step
(train until one more epoch has finished, then pause). Each request becomes a `control` event
in the log, done or refused with the reason, at the epoch and batch it took effect; a pause
shows in the status (`paused_since`) for every page to say.

While paused the training waits here and keeps its place in the line (its slot in the local
queue, its share of a cluster), for at most CIFAR_PAUSE_MINUTES; then it stops, keeping its
finished epochs, so that a forgotten pause does not hold the class's machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cifar.config.settings import MAX_EPOCHS
from cifar.errors import ConfigError
from cifar.network.schedule import OptimizerRate
from cifar.runs.control import Request, pause_limit_seconds, rate_text, read_requests
from cifar.runs.progress import epochs_kept
from cifar.runs.status import now_iso
from cifar.runs.writer import RunWriter

POLL_SECONDS = 0.2  # while paused: how soon a resume or a stop is seen


def held_too_long(limit_seconds: float, finished: int, continuable: bool) -> str:
    """How a run paused past its limit ended, in words; `continuable`: whether more epochs can follow."""
    then = " Continue it to train on." if continuable and finished else ""
    return (
        f"Paused for longer than {limit_seconds / 60:g} min (CIFAR_PAUSE_MINUTES), so it stopped to give its place "
        f"to others; {epochs_kept(finished)}.{then}"
    )


@dataclass(frozen=True)
class Place:
    """Where the training is: the epoch under way (or just finished), batches done in it."""

    epoch: int
    batch: int


class Steering:
    """Reads the control file between batches and carries out what it asks.

    Args:
        writer: the run being written.
        rate: the model's learning rate, which `lr` requests change.
        steps: batches in an epoch.
        epochs: the epoch the run ends at, as launched.
        should_stop: a stop request (signal or stop file), which ends a pause too.
        sleep: how to wait while paused (a test's clock may stand in).
    """

    def __init__(self, writer: RunWriter, rate: OptimizerRate, steps: int, epochs: int,
                 should_stop: Callable[[], bool], sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        self.writer, self.rate, self.steps = writer, rate, steps
        self.epochs = epochs
        self.should_stop, self.sleep = should_stop, sleep
        self.pause_limit = pause_limit_seconds()
        self.paused_at: float | None = None  # time.monotonic() when paused
        self.pause_after_epoch: int | None = None  # a step's pause: at the end of this epoch
        self.stop_after_epoch = False
        self.ended: str | None = None  # how steering ended the run, in words (a pause held too long)
        self.stopped_while_paused = False  # a stop ended a pause
        self.control = ControlFile(writer.files.control)

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def between_batches(self, place: Place) -> float:
        """Carry out new requests; while paused, wait here until resumed, stopped or paused too long.

        Returns:
            Seconds spent paused, which the epoch's speed leaves out.
        """
        self._read(place)
        waited = 0.0
        while self.paused and not self.ended:
            if self.should_stop():
                self.stopped_while_paused = True
                break
            started = time.monotonic()
            self.sleep(POLL_SECONDS)
            self._read(place)
            waited += time.monotonic() - started
            if self.paused and time.monotonic() - self.paused_at > self.pause_limit:
                finished = place.epoch - (place.batch < self.steps)
                self.ended = held_too_long(self.pause_limit, finished, continuable=not self.rate.schedule_ends)
                self._event(Request(0, "pause"), place, "ended", self.ended)
        return waited

    def at_epoch_end(self, place: Place) -> bool:
        """After epoch `place.epoch` is saved: whether the training stops now (its last epoch,
        fewer epochs asked, stop after this epoch, a pause that ended it). A step's pause waits here."""
        self._read(place)
        if place.epoch >= self.epochs:  # its last epoch is done: the run has ended, whatever was asked
            if self.paused:
                self.resume()
            return True
        if self.pause_after_epoch is not None and place.epoch >= self.pause_after_epoch:
            self.pause_after_epoch = None
            self.pause("step", place)
        self.between_batches(place)
        if self.stop_after_epoch:
            self.ended = f"Stopped after epoch {place.epoch} on request; {epochs_kept(place.epoch)}."
            return True
        return place.epoch >= self.epochs or bool(self.ended) or self.stopped_while_paused

    def _read(self, place: Place) -> None:
        new, problems = self.control.news()
        for problem in problems:
            self._event(Request(0, "unreadable"), place, "ignored", problem[0].upper() + problem[1:] + ".")
        for request in new:
            self._carry_out(request, place)

    def _carry_out(self, request: Request, place: Place) -> None:
        try:
            detail = ACTIONS[request.action](self, request, place)
        except ConfigError as refusal:
            self._event(request, place, "refused", str(refusal))
        else:
            self._event(request, place, "done", detail)

    def pause(self, who: str, place: Place) -> str:
        """Pause after this batch; `who` asked ("step": the training, after a step's epoch)."""
        if self.paused:
            return "It was paused already."
        self.paused_at = time.monotonic()
        self.writer.set_status(paused_since=now_iso(), paused_by=who)
        if who == "step":
            self._event(
                Request(0, "pause", who=who), place, "done", f"Paused after epoch {place.epoch}, as the step asked."
            )
        return f"Paused at epoch {place.epoch}, batch {place.batch:,} of {self.steps:,}."

    def resume(self) -> str:
        """Go on after a pause (and forget a step's pause to come)."""
        self.pause_after_epoch = None  # resumed: no step's pause waits at the end of the epoch
        if not self.paused:
            return "It was not paused; it trains on."
        self.paused_at = None
        self.writer.set_status(paused_since=None, paused_by="")
        return "Resumed."

    def _event(self, request: Request, place: Place, outcome: str, detail: str) -> None:
        fields = {"id": request.id, "action": request.action, "who": request.who}
        if request.value is not None:
            fields["value"] = request.value
        self.writer.event(
            "control",
            **fields,
            outcome=outcome,
            detail=detail,
            epoch=place.epoch,
            batch=place.batch,
            batches=self.steps,
            epochs=self.epochs,
            learning_rate=round(self.rate.now(), 8),
        )


def _step(steering: Steering, request: Request, place: Place) -> str:
    finished = place.batch >= steering.steps  # at an epoch's end: the step trains the next one whole
    target = place.epoch + 1 if finished else place.epoch
    if target > steering.epochs:
        raise ConfigError(f"The run ends at epoch {steering.epochs}: there is no epoch left to step through.")
    steering.pause_after_epoch = target
    if steering.paused:
        steering.paused_at = None
        steering.writer.set_status(paused_since=None, paused_by="")
    return f"Training until epoch {target} has finished, then pausing."


def _stop_after_epoch(steering: Steering, request: Request, place: Place) -> str:
    steering.stop_after_epoch = True
    steering.resume()
    if place.batch >= steering.steps:
        return f"Stopping now: epoch {place.epoch} has finished."
    return f"Stopping once epoch {place.epoch} has finished."


def _lr(steering: Steering, request: Request, place: Place) -> str:
    previous = steering.rate.now()
    steering.rate.set(float(request.value or 0))
    return f"Learning rate {rate_text(previous)} → {rate_text(request.value or 0)} from the next batch."


def _epochs(steering: Steering, request: Request, place: Place) -> str:
    epochs = int(request.value or 0)
    if not place.epoch <= epochs <= MAX_EPOCHS:
        raise ConfigError(
            f"The run is at epoch {place.epoch}: it can end at epoch {place.epoch} at the earliest and "
            f"{MAX_EPOCHS} at the latest; got {epochs}."
        )
    previous, steering.epochs = steering.epochs, epochs
    steering.rate.end_at(epochs * steering.steps)
    steering.writer.set_status(epochs=epochs)
    return f"The run now ends at epoch {epochs} (it was {previous})."


def _pause(steering: Steering, request: Request, place: Place) -> str:
    return steering.pause(request.who, place)


def _resume(steering: Steering, request: Request, place: Place) -> str:
    return steering.resume()


# What each request does; each returns what it did in words, or raises ConfigError saying why not.
ACTIONS = {
    "pause": _pause,
    "resume": _resume,
    "lr": _lr,
    "epochs": _epochs,
    "stop_after_epoch": _stop_after_epoch,
    "step": _step,
}


class ControlFile:
    """The run's control file as the trainer reads it: only when it has changed, each request
    once, and each problem with it said once rather than at every batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.applied = 0  # the id of the last request handed out
        self._signature: tuple | None = None
        self._reported: set[str] = set()

    def news(self) -> tuple[list[Request], list[str]]:
        """Requests not handed out before, and problems not said before."""
        try:
            stat = os.stat(self.path)
            signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except OSError:
            signature = None
        if signature == self._signature:
            return [], []
        self._signature = signature
        requests, problems = read_requests(self.path)
        new = [request for request in requests if request.id > self.applied]
        if new:
            self.applied = new[-1].id
        fresh = [problem for problem in problems if problem not in self._reported]
        self._reported.update(fresh)
        return new, fresh
