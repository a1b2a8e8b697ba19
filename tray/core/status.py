"""What the supervisor tells the rest of the app: its state, the incident under way, history."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tray.core.causes import Cause
from tray.core.resume import SessionReport
from tray.core.server_health import NOTHING_MEASURED, HealthStatus


class State(Enum):
    STOPPED = "stopped"  # by the user
    STARTING = "starting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    STALLED = "stalled"
    CRASHED = "crashed"  # and restarting
    FAILED = "failed"  # gave up; the user has to act

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    State.STOPPED: "Stopped",
    State.STARTING: "Starting",
    State.CONNECTED: "Connected",
    State.RECONNECTING: "Reconnecting",
    State.STALLED: "Stalled",
    State.CRASHED: "Crashed, restarting",
    State.FAILED: "Failed",
}


@dataclass(frozen=True)
class Incident:
    """A stretch of time away from `connected`, and why. Times are monotonic seconds."""

    opened_at: float
    cause: Cause
    closed_at: float | None = None
    recovered: bool = False

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def duration(self, now: float) -> float:
        return (self.closed_at if self.closed_at is not None else now) - self.opened_at


@dataclass(frozen=True)
class Status:
    """A snapshot of the supervisor at monotonic time `now`."""

    now: float
    state: State
    cause: Cause | None
    attempt: int
    next_retry_at: float | None
    pid: int | None
    url: str | None
    version: str | None
    ready_at: float | None
    last_event_at: float | None
    restarts: int
    incidents: tuple[Incident, ...]
    busy_sessions: tuple[str, ...]  # the server is working on their turn
    last_worked_in: str | None  # the session the user worked in last, per the event stream
    last_gap_s: float | None
    changed_in_gap: tuple[str, ...] = ()  # sessions updated during the last gap, per the resync
    # `last_worked_in` as the last resync found it (interrupted, waiting for an answer, ...).
    last_worked_in_report: SessionReport | None = None
    # The server's own address; `url` is the one clients use (the front door's, when it is on).
    upstream_url: str | None = None
    health: HealthStatus = NOTHING_MEASURED  # memory, stuck turns, updates (the engine's watch)

    @property
    def stream_connected(self) -> bool:
        """The event stream is up: that is what `connected` means."""
        return self.state is State.CONNECTED

    @property
    def next_retry_in_s(self) -> float | None:
        return None if self.next_retry_at is None else max(0.0, self.next_retry_at - self.now)

    @property
    def uptime_s(self) -> float | None:
        return None if self.ready_at is None else self.now - self.ready_at

    @property
    def since_last_event_s(self) -> float | None:
        return None if self.last_event_at is None else self.now - self.last_event_at

    @property
    def open_incident(self) -> Incident | None:
        last = self.incidents[-1] if self.incidents else None
        return last if last is not None and last.is_open else None
