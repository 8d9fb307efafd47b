"""How far a long step has come (decoding 60,000 images, downloading 163 MB), for a progress bar.

The steps that take long report a `Progress` to a callback that the caller passes in: a page
draws a bar with it, a test records it. `Tracker` does the counting and calls back only now and
then, so that reporting costs nothing measurable beside the work itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

_MB = 1 << 20  # MB as the archive's "163 MB" counts them
_ESTIMATE_AFTER = 0.02  # the rate of the first 2% (a cold disk, a slow start) would mislead


@dataclass(frozen=True)
class Progress:
    """One report of a long step."""

    task: str  # what is going on, in words: "Decoding CIFAR-10"
    done: int  # units finished so far
    total: int | None  # units in all; None when unknown (a server that sends no size)
    unit: str  # "images" or "bytes"
    elapsed_seconds: float  # since the step began

    @property
    def fraction(self) -> float:
        """Share done, 0 to 1; 0 while the total is unknown."""
        if not self.total:
            return 0.0
        return min(1.0, self.done / self.total)

    @property
    def seconds_left(self) -> float | None:
        """The time left at the rate so far; None while too little is done to tell."""
        if not self.total or self.fraction < _ESTIMATE_AFTER or self.elapsed_seconds <= 0:
            return None
        return self.elapsed_seconds * (self.total - self.done) / self.done

    def describe(self) -> str:
        """The report in words: 'Decoding CIFAR-10: 12,000 of 60,000 images, about 10 s left'."""
        amount = _amount(self.done, self.total, self.unit)
        if self.total and self.done >= self.total:
            return f"{self.task}: {amount}, done"
        left = self.seconds_left
        return f"{self.task}: {amount}" + (f", {time_left(left)}" if left is not None else "")


ProgressCallback = Callable[[Progress], None]


def time_left(seconds: float) -> str:
    """'a few seconds left', 'about 40 s left', 'about 3 min left'."""
    if seconds < 10:
        return "a few seconds left"
    if seconds < 90:
        return f"about {round(seconds / 5) * 5} s left"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def _amount(done: int, total: int | None, unit: str) -> str:
    if unit == "bytes":
        if total is None:
            return f"{done / _MB:.1f} MB"
        return f"{done / _MB:.1f} of {total / _MB:.1f} MB"
    if total is None:
        return f"{done:,} {unit}"
    return f"{done:,} of {total:,} {unit}"


class Tracker:
    """Counts the work of one step and reports it to a callback now and then, and at the end."""

    def __init__(
        self,
        task: str,
        total: int | None,
        unit: str,
        callback: ProgressCallback | None,
        every: int = 1,
        min_interval_seconds: float = 0.0,
    ):
        """Start counting.

        Args:
            task: what is going on, in words.
            total: units in all, or None when unknown.
            unit: "images" or "bytes".
            callback: called with a `Progress`; None reports nothing.
            every: report after at least this many more units.
            min_interval_seconds: and at least this long after the last report.
        """
        self.task, self.total, self.unit, self.callback = task, total, unit, callback
        self.every, self.min_interval_seconds = every, min_interval_seconds
        self.started = time.monotonic()
        self.done = 0
        self._reported_done = 0
        self._reported_at = self.started

    def advance(self, amount: int = 1) -> None:
        """Count `amount` more units done."""
        self.update(self.done + amount)

    def update(self, done: int) -> None:
        """Set the units done so far, and report when it is time to."""
        self.done = done
        if self.callback is None or done - self._reported_done < self.every:
            return
        now = time.monotonic()
        if now - self._reported_at >= self.min_interval_seconds:
            self._report(now)

    def finish(self) -> None:
        """Report what was done since the last report, so that the last report is the whole."""
        if self.callback is not None and self.done != self._reported_done:
            self._report(time.monotonic())

    def _report(self, now: float) -> None:
        self._reported_done, self._reported_at = self.done, now
        self.callback(Progress(self.task, self.done, self.total, self.unit, now - self.started))
