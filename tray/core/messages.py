"""What flows into the supervisor (events from the user and the adapters) and out (effects).

Events from the process and the stream carry the generation they belong to, so that a late
event from a process or connection that has already been replaced is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from tray.core.causes import Cause, OutOfMemory
from tray.core.resume import SessionReport
from tray.generations.events import ServerEvent

# -- events: the user ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StartRequested:
    pass


@dataclass(frozen=True)
class StopRequested:
    pass


@dataclass(frozen=True)
class RestartRequested:
    pass


# -- events: the server process -----------------------------------------------------------------


@dataclass(frozen=True)
class FromProcess:
    """An event from one server process: `gen` is that process's generation."""

    gen: int


@dataclass(frozen=True)
class SpawnFailed(FromProcess):
    cause: Cause


@dataclass(frozen=True)
class Spawned(FromProcess):
    pid: int


@dataclass(frozen=True)
class Listening(FromProcess):
    url: str


@dataclass(frozen=True)
class Ready(FromProcess):
    version: str


@dataclass(frozen=True)
class NotReady(FromProcess):
    cause: Cause


@dataclass(frozen=True)
class Exited(FromProcess):
    returncode: int
    stderr_tail: tuple[str, ...] = ()
    oom: OutOfMemory | None = None  # a SIGKILL that looks like the out-of-memory killer's


# -- events: the event stream -------------------------------------------------------------------


@dataclass(frozen=True)
class FromStream:
    """An event from one connection to the event stream: `gen` is that connection's generation."""

    gen: int


@dataclass(frozen=True)
class StreamOpened(FromStream):
    pass


@dataclass(frozen=True)
class StreamEvent(FromStream):
    event: ServerEvent


@dataclass(frozen=True)
class StreamClosed(FromStream):
    cause: Cause


@dataclass(frozen=True)
class Resynced:
    """What REST said after a reconnect: the sessions busy now, those that changed during the
    gap, and the state the active session was found in."""

    gap_s: float | None
    busy_sessions: tuple[str, ...]
    changed_sessions: tuple[str, ...] = ()
    session: SessionReport | None = None


@dataclass(frozen=True)
class ResyncFailed:
    """Try number `attempt` of the resync failed; the supervisor schedules the next one."""

    attempt: int
    cause: Cause


# -- events: the server password ----------------------------------------------------------------


@dataclass(frozen=True)
class PasswordPending:
    """The server password is being asked of a keyring that may wait for the user: no server is
    started until `PasswordReady`; the engine gives up waiting after `timeout_s`."""

    timeout_s: float


@dataclass(frozen=True)
class PasswordReady:
    """The server password is known: a start held back for it goes ahead."""


@dataclass(frozen=True)
class RestartFor:
    """The app decided to restart the server with this pid for `cause` (its health watch): a
    request hang like a hung server, a planned restart (memory limit, updated binary) at once."""

    pid: int
    cause: Cause


@dataclass(frozen=True)
class Tick:
    """Time has passed; the supervisor checks its deadlines."""


Event = (
    StartRequested
    | StopRequested
    | RestartRequested
    | SpawnFailed
    | Spawned
    | Listening
    | Ready
    | NotReady
    | Exited
    | StreamOpened
    | StreamEvent
    | StreamClosed
    | Resynced
    | ResyncFailed
    | RestartFor
    | PasswordPending
    | PasswordReady
    | Tick
)

# -- effects: what the adapters must do ---------------------------------------------------------


@dataclass(frozen=True)
class Spawn:
    gen: int


@dataclass(frozen=True)
class CheckReadiness:
    gen: int


@dataclass(frozen=True)
class Terminate:
    """SIGTERM, then SIGKILL after `grace_s`; an `Exited` event follows."""

    gen: int
    grace_s: float


@dataclass(frozen=True)
class OpenStream:
    gen: int


@dataclass(frozen=True)
class CloseStream:
    gen: int


@dataclass(frozen=True)
class Resync:
    """Recover over REST what the stream missed; `gap_s` is None on the first connection.
    `attempt` counts the tries for one connection: a failed one is retried with backoff."""

    gap_s: float | None
    attempt: int = 1


Effect = Spawn | CheckReadiness | Terminate | OpenStream | CloseStream | Resync
