"""What the door does in each server state, and what it knows of the server it stands in for."""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

from tray.core.causes import Cause
from tray.core.status import State


class Phase(Enum):
    """What the door does with traffic, from the supervisor's state."""

    READY = "ready"  # forward
    RECOVERING = "recovering"  # hold until ready (or a deadline)
    CLOSED = "closed"  # failed or stopped: refuse, end streams


_PHASES = {
    State.CONNECTED: Phase.READY,
    State.RECONNECTING: Phase.READY,  # the server answers; only the app's own stream dropped
    State.STARTING: Phase.RECOVERING,
    State.STALLED: Phase.RECOVERING,  # maybe frozen: do not pile requests into it
    State.CRASHED: Phase.RECOVERING,
    State.FAILED: Phase.CLOSED,
    State.STOPPED: Phase.CLOSED,
}


def phase_of(state: State) -> Phase:
    return _PHASES[state]


@dataclass(frozen=True)
class Credentials:
    """A username and password; the repr never shows the password."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r})"

    def basic(self) -> str:
        """The value of an `Authorization` header for these credentials."""
        return self._basic

    @cached_property
    def _basic(self) -> str:  # once: the door sends and checks it on every request
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def matches(self, username: str, password: str) -> bool:
        """Constant-time comparison of both parts (no early exit on the username)."""
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok & password_ok


@dataclass(frozen=True)
class Upstream:
    """One start of the private server: where it listens and the password only the door knows.
    A new start has a new port and password, so two starts never compare equal."""

    url: str
    credentials: Credentials


@dataclass(frozen=True)
class ServerView:
    """What the door knows about the server: pushed by the engine's status."""

    state: State
    upstream: Upstream | None
    cause: Cause | None = None
    version: str | None = None
    # The projects clients used are loaded on this server. A server loads a project at its first
    # request for it, and the events of that request never reach `/global/event`
    # (tests/clients/FINDINGS.md): until the door has loaded them, a new server is not ready.
    loaded: bool = True

    @property
    def phase(self) -> Phase:
        ready = phase_of(self.state) is Phase.READY
        if ready and (self.upstream is None or not self.loaded):
            return Phase.RECOVERING
        return phase_of(self.state)
