"""How long a notice stays on screen before anything replaces or closes it.

The notification policy spaces its decisions so, and the notifier keeps it so on screen when a
notice took longer than the next to reach the daemon: both keep a `NoticePacing`.
"""

from __future__ import annotations

# No notice is replaced or closed sooner than this after it was shown.
MIN_SHOWN_S = 1.0


class NoticePacing:
    """When each notice on screen was shown, by key, and so when it may next change."""

    def __init__(self) -> None:
        self._shown_at: dict[str, float] = {}

    def free_at(self, key: str) -> float | None:
        """When the notice with `key` may change; None when it may now (it is not shown)."""
        shown_at = self._shown_at.get(key)
        return None if shown_at is None else shown_at + MIN_SHOWN_S

    def is_free(self, key: str, now: float) -> bool:
        """Whether the notice with `key` may change at `now`: it has been shown long enough."""
        free_at = self.free_at(key)
        return free_at is None or now >= free_at

    def shown(self, key: str, now: float) -> None:
        self._shown_at[key] = now

    def closed(self, key: str) -> None:
        self._shown_at.pop(key, None)

    def forget_free(self, now: float, keep: str) -> None:
        """Forget every notice but `keep` that may change at `now`: nothing waits for it."""
        for key in [key for key in self._shown_at if key != keep and self.is_free(key, now)]:
            del self._shown_at[key]
