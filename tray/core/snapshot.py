"""What the engine pushes to the rest of the app at each change: one frozen value."""

from __future__ import annotations

from dataclasses import dataclass, replace

from tray.core.door.phases import Credentials, Upstream
from tray.core.settings import Settings
from tray.core.status import Status
from tray.generations.events import SessionSummary


@dataclass(frozen=True)
class EngineSnapshot:
    """The status, the settings in effect, where clients reach the server (`public_url`: the
    front door's address, None without one) with the credentials they use, and the server's
    recent sessions. `credential_generation` goes up at each new password, so a front door
    knows when to end what the old one opened; the credentials' repr hides the password."""

    status: Status
    settings: Settings
    public_url: str | None
    credentials: Credentials
    credential_generation: int
    upstream: Upstream | None  # the private server a front door forwards to, while it listens
    recent_sessions: tuple[SessionSummary, ...] = ()

    def news(self) -> tuple[Status, Settings, int]:
        """What makes a snapshot worth pushing: stream traffic alone (a new last-event time)
        and the recent sessions riding along are not news; a new status, new settings and new
        credentials are."""
        quiet = replace(self.status, now=0.0, last_event_at=None)
        return quiet, self.settings, self.credential_generation
