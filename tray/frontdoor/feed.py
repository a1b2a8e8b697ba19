"""Feeding a front door from the engine: data flows one way, from each pushed `Status`."""

from __future__ import annotations

from typing import Protocol

from tray.core.causes import Cause
from tray.core.front_door import Upstream
from tray.core.status import State, Status
from tray.engine.engine import Engine


class Door(Protocol):
    def server_changed(
        self,
        upstream: Upstream | None,
        state: State,
        cause: Cause | None = None,
        version: str | None = None,
    ) -> None: ...


def follow(door: Door, engine: Engine) -> None:
    """Tell `door` about the engine's server now and at every status the engine pushes."""

    def on_status(status: Status) -> None:
        door.server_changed(engine.upstream(), status.state, status.cause, status.version)

    engine.subscribe(on_status)
    on_status(engine.status())
