"""Retry timing: capped exponential backoff with jitter, and the crash-loop breaker."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before retry number `attempt` (1-based): base * 2^(attempt-1), capped, jittered.

    "Equal jitter": the delay lies in [d/2, d], so retries of many clients spread out while the
    first retry still comes quickly.
    """

    base_s: float
    cap_s: float

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        exponent = min(max(attempt, 1) - 1, 62)
        ceiling = min(self.cap_s, self.base_s * 2.0**exponent)
        return ceiling / 2 + rng() * ceiling / 2


def restart_delay(
    backoff: Backoff, attempt: int, rng: Callable[[], float], first_at_once: bool
) -> float:
    """Delay before restart number `attempt` since the last stable period. With
    `first_at_once` the first goes at once (a crash after a stable run is rarely a loop, and
    every client waits on it) and later ones back off from the base, so a crash loop still
    slows down and trips the breaker."""
    if not first_at_once:
        return backoff.delay(attempt, rng)
    return 0.0 if attempt <= 1 else backoff.delay(attempt - 1, rng)


class CrashLoopBreaker:
    """Trips when `limit` crashes fall within `window_s` seconds."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._crashes: deque[float] = deque()

    def record(self, now: float) -> bool:
        """Record a crash at `now`; True when this one trips the breaker."""
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > self.window_s:
            self._crashes.popleft()
        return len(self._crashes) >= self.limit

    def count(self) -> int:
        return len(self._crashes)

    def reset(self) -> None:
        self._crashes.clear()
