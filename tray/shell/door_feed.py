"""Feeding a front door from the engine: data flows one way, from each pushed `EngineSnapshot`
(the engine pushes one after a password rotation too)."""

from __future__ import annotations

from typing import Protocol

from tray.core.door.phases import Credentials, ServerView
from tray.core.snapshot import EngineSnapshot
from tray.engine.engine import Engine


class Door(Protocol):
    def server_changed(self, seen: ServerView) -> None: ...

    def set_credentials(self, credentials: Credentials) -> None: ...

    def set_hold_limit(self, seconds: float) -> None: ...


def follow(door: Door, engine: Engine) -> None:
    """Tell `door` about the engine's server now and at every snapshot the engine pushes, and
    about new public credentials (a rotation) and a new startup timeout (how long it holds
    clients for a start) when they change: before the status that starts a server reaches it."""
    now = engine.snapshot()
    generation = [now.credential_generation]  # of the credentials the door has
    hold_limit = [now.settings.startup_timeout_s]

    def on_snapshot(snapshot: EngineSnapshot) -> None:
        if snapshot.credential_generation != generation[0]:
            generation[0] = snapshot.credential_generation
            door.set_credentials(snapshot.credentials)
        if snapshot.settings.startup_timeout_s != hold_limit[0]:
            hold_limit[0] = snapshot.settings.startup_timeout_s
            door.set_hold_limit(hold_limit[0])
        status = snapshot.status
        door.server_changed(
            ServerView(status.state, snapshot.upstream, status.cause, status.version)
        )

    engine.subscribe(on_snapshot)
    on_snapshot(now)
