"""Sleep and wake, told from the clocks: while a machine sleeps the wall clock moves on and the
monotonic clock (on Linux and macOS) does not, so the gap between them jumps."""

from __future__ import annotations

# A jump smaller than this is clock adjustment (NTP), not sleep.
MIN_SLEEP_S = 5.0


class WakeDetector:
    def __init__(self, monotonic: float, wall: float) -> None:
        self._offset = wall - monotonic
        self.woke_at: float | None = None  # monotonic time of the last wake seen

    def check(self, monotonic: float, wall: float) -> bool:
        """Feed both clocks; True when they show the machine has just woken up."""
        offset = wall - monotonic
        jumped = offset - self._offset >= MIN_SLEEP_S
        self._offset = offset
        if jumped:
            self.woke_at = monotonic
        return jumped
