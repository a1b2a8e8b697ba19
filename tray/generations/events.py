"""The core's own events, decoded from a server event by a generation's one decoder, and the
shapes of the event streams the front door holds.

The core, the engine and the front door read server events only as these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

# -- the core's events, decoded from a server event ----------------------------------------------


@dataclass(frozen=True)
class SessionSummary:
    """A session as the session list shows it."""

    id: str
    title: str
    directory: str
    updated_ms: float


@dataclass(frozen=True)
class Connected:
    """The stream is open: the server's first event on it."""


@dataclass(frozen=True)
class Heartbeat:
    """The server is alive and has nothing to say."""


@dataclass(frozen=True)
class SessionBusy:
    """A turn runs in `session` (or is retried)."""

    session: str


@dataclass(frozen=True)
class SessionIdle:
    """`session`'s turn ended."""

    session: str


@dataclass(frozen=True)
class SessionError:
    """`session`'s turn failed with `message`."""

    session: str
    message: str


@dataclass(frozen=True)
class SessionChanged:
    """A session was created or updated; `session` is the one the event names, if it does."""

    summary: SessionSummary
    session: str | None = None


@dataclass(frozen=True)
class SessionDeleted:
    """Session `deleted` is gone; `session` is the one the event names, if it does."""

    deleted: str
    session: str | None = None


@dataclass(frozen=True)
class AwaitingUser:
    """`session` waits for the user: `kind` is "permission" or "question"."""

    session: str
    kind: str


@dataclass(frozen=True)
class UpdateAvailable:
    """The server found a newer version of itself."""

    version: str


@dataclass(frozen=True)
class Activity:
    """Someone works in `session` (a message or a part of one changed)."""

    session: str


@dataclass(frozen=True)
class Other:
    """An event the app does not read, of type `type`, about `session` if it names one."""

    type: str
    session: str | None = None


ServerEvent = (
    Connected
    | Heartbeat
    | SessionBusy
    | SessionIdle
    | SessionError
    | SessionChanged
    | SessionDeleted
    | AwaitingUser
    | UpdateAvailable
    | Activity
    | Other
)


def session_of(event: ServerEvent) -> str | None:
    """The session an event says work happens in, if any."""
    match event:
        case Connected() | Heartbeat() | UpdateAvailable():
            return None
    return event.session


# -- event streams as the front door holds them ---------------------------------------------------


class StreamFormat(Enum):
    """How the server writes events on a stream path."""

    INSTANCE = "instance"  # /event: {"id","type","properties"}
    GLOBAL = "global"  # /global/event: {"directory","project"?,"payload":{...}}
    API = "api"  # /api/event and /api/session/{id}/event: {"id","type","data"}, ": heartbeat"


@dataclass(frozen=True)
class Scope:
    """Where an event belongs on a `/global/event` stream."""

    directory: str | None = None
    project: str | None = None
