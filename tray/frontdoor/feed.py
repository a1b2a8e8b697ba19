"""Feeding a front door from the engine: data flows one way, from each pushed `Status` (the
engine pushes one after a password rotation too)."""

from __future__ import annotations

from typing import Protocol

from tray.core.front_door import Credentials, ServerView
from tray.core.status import Status
from tray.engine.engine import Engine


class Door(Protocol):
    def server_changed(self, seen: ServerView) -> None: ...

    def set_credentials(self, credentials: Credentials) -> None: ...


def follow(door: Door, engine: Engine) -> None:
    """Tell `door` about the engine's server now and at every status the engine pushes, and
    about new public credentials (a rotation) when they change."""
    public = [Credentials(*engine.launch.credentials())]  # what the door has

    def on_status(status: Status) -> None:
        credentials = Credentials(*engine.launch.credentials())
        if credentials != public[0]:
            public[0] = credentials
            door.set_credentials(credentials)
        door.server_changed(
            ServerView(status.state, engine.upstream(), status.cause, status.version)
        )

    engine.subscribe(on_status)
    on_status(engine.status())
