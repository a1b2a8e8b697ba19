"""The app's front door, when the `front_door` setting is on: started before the server (which
then listens on a private port), fed by the engine's statuses, closed after the server stops.

The door runs on its own loop in a thread (`ThreadedFrontDoor`): measured in
`benchmarks/front_door.py`, a busy Qt loop delays a door that shares it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from tray.core.front_door import Credentials, DoorStats
from tray.engine.engine import Engine
from tray.frontdoor.feed import follow

if TYPE_CHECKING:
    from tray.frontdoor.threaded import ThreadedFrontDoor

log = logging.getLogger(__name__)


class AppDoor:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._enabled = engine.launch.settings.front_door
        self.door: ThreadedFrontDoor | None = None  # once it listens

    def claim(self) -> None:
        """Before the server's first start is asked for: that start waits for `start`."""
        if self._enabled:
            self._engine.place_later()

    async def start(self, warn: Callable[[str], None]) -> None:
        """Listen on the public port; if that fails, say so and let the server listen there."""
        if not self._enabled:
            return
        # aiohttp is a third of the app's import time: it loads once the tray icon is shown.
        from tray.frontdoor.door import DoorConfig  # noqa: PLC0415
        from tray.frontdoor.threaded import ThreadedFrontDoor  # noqa: PLC0415

        settings = self._engine.launch.settings
        config = DoorConfig(port=settings.port, hold_limit_s=settings.startup_timeout_s)
        # The credentials of now; `follow` pushes new ones (a rotation, a late keyring).
        door = ThreadedFrontDoor(config, Credentials(*self._engine.launch.credentials()))
        try:
            url = await door.start()
        except OSError as error:
            port = settings.port
            warn(
                f"The front door could not listen on port {port} ({error.strerror or error}): "
                "the server listens there itself, and clients lose their connection when it "
                "restarts."
            )
            self._enabled = False
            self._engine.serve_directly()
            return
        self.door = door
        self._engine.serve_behind(url)
        follow(door, self._engine)

    def stats(self) -> DoorStats | None:
        """For `status --json` (None: the door is off; zeros until it listens)."""
        if self.door is not None:
            return self.door.stats()
        return DoorStats() if self._enabled else None

    def browser_url(self, web_url: str) -> str:
        """The URL to hand the browser for the web app page `web_url`: a one-time sign-in on
        the door (no password in the browser's command line or history), or `web_url` itself
        when the door is off."""
        return web_url if self.door is None else self.door.login_url(web_url)

    async def close(self) -> None:
        if self.door is not None:
            await self.door.close()
