"""The app's front door, when the `front_door` setting is on: started before the server (which
then listens on a private port), fed by the engine's statuses, closed after the server stops.

The door runs on its own loop in a thread (`ThreadedFrontDoor`): measured in
`benchmarks/front_door.py`, a busy Qt loop delays a door that shares it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from tray.core.front_door import Credentials, DoorStats
from tray.engine.engine import Engine
from tray.frontdoor.door import DoorConfig
from tray.frontdoor.feed import follow
from tray.frontdoor.threaded import ThreadedFrontDoor

log = logging.getLogger(__name__)


class AppDoor:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        settings = engine.launch.settings
        self.door: ThreadedFrontDoor | None = None
        if settings.front_door:
            config = DoorConfig(port=settings.port, hold_limit_s=settings.startup_timeout_s)
            # The credentials of now; `follow` pushes new ones (a rotation, a late keyring).
            self.door = ThreadedFrontDoor(config, Credentials(*engine.launch.credentials()))

    async def start(self, warn: Callable[[str], None]) -> None:
        """Listen on the public port; if that fails, say so and let the server listen there."""
        if self.door is None:
            return
        try:
            url = await self.door.start()
        except OSError as error:
            port = self._engine.launch.settings.port
            warn(
                f"The front door could not listen on port {port} ({error.strerror or error}): "
                "the server listens there itself, and clients lose their connection when it "
                "restarts."
            )
            self.door = None
            return
        self._engine.serve_behind(url)
        follow(self.door, self._engine)

    def stats(self) -> DoorStats | None:
        """For `status --json` (None: the door is off)."""
        return None if self.door is None else self.door.stats()

    def browser_url(self, web_url: str) -> str:
        """The URL to hand the browser for the web app page `web_url`: a one-time sign-in on
        the door (no password in the browser's command line or history), or `web_url` itself
        when the door is off."""
        return web_url if self.door is None else self.door.login_url(web_url)

    async def close(self) -> None:
        if self.door is not None:
            await self.door.close()
