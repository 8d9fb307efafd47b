"""Wrong class codes and teacher passwords, slowed down: each key (a name from one address, a
name from anywhere) may be wrong a few times a minute, then waits. Kept in the server's memory,
for every session at once; keys with no recent try are forgotten."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable, Sequence

WINDOW_SECONDS = 60.0
_SWEEP_ABOVE = 10_000  # keys kept before the ones with no recent try are swept out


class Throttle:
    """Wrong tries per key in the last minute."""

    def __init__(self) -> None:
        self._tries: dict[Hashable, deque[float]] = {}
        self._refusals_said: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        tries = self._tries.get(key, deque())
        while tries and tries[0] <= now - WINDOW_SECONDS:
            tries.popleft()
        return tries

    def wait(self, limits: Sequence[tuple[Hashable, int]], now: float) -> float:
        """Seconds until every (key, tries a minute) of `limits` allows another try; 0 when they do."""
        with self._lock:
            waits = []
            for key, limit in limits:
                tries = self._recent(key, now)
                if len(tries) >= limit:
                    waits.append(tries[-limit] + WINDOW_SECONDS - now)
            return max(waits, default=0.0)

    def count(self, keys: Sequence[Hashable], now: float) -> None:
        """One wrong try more for each of `keys`."""
        with self._lock:
            for key in keys:
                self._tries.setdefault(key, deque()).append(now)
            if len(self._tries) > _SWEEP_ABOVE:
                self._sweep(now)

    def first_refusal(self, key: Hashable, now: float) -> bool:
        """Whether a refusal for `key` is the first in its minute (the audit log says it once)."""
        with self._lock:
            if now - self._refusals_said.get(key, float("-inf")) < WINDOW_SECONDS:
                return False
            self._refusals_said[key] = now
            return True

    def _sweep(self, now: float) -> None:
        for key in list(self._tries):
            if not self._recent(key, now):
                del self._tries[key]
        for key, said in list(self._refusals_said.items()):
            if now - said >= WINDOW_SECONDS:
                del self._refusals_said[key]

    def __len__(self) -> int:
        return len(self._tries)
