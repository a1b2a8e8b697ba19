"""Feeding a front door from the engine: data flows one way, from each pushed `Status` (the
engine pushes one after a password rotation too)."""

from __future__ import annotations

from typing import Protocol

from tray.core.door.phases import Credentials, ServerView
from tray.core.status import Status
from tray.engine.engine import Engine


class Door(Protocol):
    def server_changed(self, seen: ServerView) -> None: ...

    def set_credentials(self, credentials: Credentials) -> None: ...

    def set_hold_limit(self, seconds: float) -> None: ...


def follow(door: Door, engine: Engine) -> None:
    """Tell `door` about the engine's server now and at every status the engine pushes, and
    about new public credentials (a rotation) and a new startup timeout (how long it holds
    clients for a start) when they change: before the status that starts a server reaches it."""
    public = [Credentials(*engine.launch.credentials())]  # what the door has
    hold_limit = [engine.launch.settings.startup_timeout_s]

    def on_status(status: Status) -> None:
        credentials = Credentials(*engine.launch.credentials())
        if credentials != public[0]:
            public[0] = credentials
            door.set_credentials(credentials)
        if engine.launch.settings.startup_timeout_s != hold_limit[0]:
            hold_limit[0] = engine.launch.settings.startup_timeout_s
            door.set_hold_limit(hold_limit[0])
        door.server_changed(
            ServerView(status.state, engine.upstream(), status.cause, status.version)
        )

    engine.subscribe(on_status)
    on_status(engine.status())
