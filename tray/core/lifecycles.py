"""The supervisor's two lifecycles, side by side: the server process (absent, spawning,
listening, ready, stopping) and its event stream (down, connecting, up). Each holds what its
own life told the supervisor, counts its generations, and resets itself."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from tray.core.causes import Cause


class Proc(Enum):
    ABSENT = auto()
    SPAWNING = auto()
    LISTENING = auto()
    READY = auto()
    STOPPING = auto()


class Stream(Enum):
    DOWN = auto()
    CONNECTING = auto()
    UP = auto()


@dataclass
class ProcessLife:
    """One server process at a time, from its spawn to its exit; `gen` counts the spawns."""

    phase: Proc = Proc.ABSENT
    gen: int = 0
    pid: int | None = None
    spawned_at: float = 0.0
    url: str | None = None
    version: str | None = None
    ready_at: float | None = None
    readiness_retry_at: float | None = None
    last_readiness: Cause | None = None  # why its last readiness check failed
    respawn_after_exit: bool = False

    def reset(self) -> None:
        """Forget what the last process told (its generation still counts)."""
        self.pid = self.url = self.version = self.ready_at = None
        self.readiness_retry_at = None
        self.last_readiness = None
        self.respawn_after_exit = False

    def spawn(self, now: float) -> int:
        """A new process starts spawning at `now`; its generation."""
        self.reset()
        self.gen += 1
        self.phase = Proc.SPAWNING
        self.spawned_at = now
        return self.gen

    def exited(self) -> Proc:
        """The process is gone; the phase it was in."""
        was, self.phase = self.phase, Proc.ABSENT
        self.pid = self.url = self.ready_at = None
        return was

    @property
    def starting(self) -> bool:
        return self.phase in (Proc.SPAWNING, Proc.LISTENING)


@dataclass
class StreamLife:
    """One event stream connection at a time, and the retries between them; `gen` counts the
    connections."""

    phase: Stream = Stream.DOWN
    gen: int = 0
    activity_at: float = 0.0
    last_event_at: float | None = None
    connected_at: float | None = None
    down_since: float | None = None
    reconnect_attempt: int = 0
    reconnect_at: float | None = None
    stalled_since: float | None = None
    unreachable_since: float | None = None  # a ready server without a live stream
    resync_gap: float | None = None  # the gap the connection's resync is about
    resync_attempt: int = 0
    resync_at: float | None = None  # when a failed resync is tried again

    def reset(self) -> None:
        """No reconnecting any more (connected, or a new server on its way): forget the retries
        and since when the server was out of reach."""
        self.reconnect_attempt = 0
        self.reconnect_at = None
        self.stalled_since = self.unreachable_since = None

    def open(self, now: float) -> int:
        """A new connection is asked for at `now`; its generation."""
        self.gen += 1
        self.phase = Stream.CONNECTING
        self.activity_at = now
        self.reconnect_at = None
        return self.gen

    def mark_down(self, now: float) -> None:
        self.phase = Stream.DOWN
        self.resync_at = None
        self.connected_at = None
        if self.down_since is None:
            self.down_since = now

    def heard(self, now: float) -> None:
        """The server said something (the connection opened, or an event)."""
        self.activity_at = self.last_event_at = now

    @property
    def up(self) -> bool:
        return self.phase is Stream.UP

    @property
    def down(self) -> bool:
        return self.phase is Stream.DOWN
