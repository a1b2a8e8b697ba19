"""The app's front door, when the `front_door` setting is on: started before the server (which
then listens on a private port), fed by the engine's snapshots, moved (or closed, or opened) at
the server start after the port or the front-door setting changed, closed after the server
stops.

The door runs on its own loop in a thread (`ThreadedFrontDoor`): measured in
`benchmarks/front_door.py`, a busy Qt loop delays a door that shares it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from tray.core.door.phases import Credentials, ServerView
from tray.core.door.stats import DoorStats
from tray.core.settings import Settings
from tray.engine.engine import Engine
from tray.engine.placement import door_placement
from tray.shell.door_feed import follow

if TYPE_CHECKING:
    from tray.frontdoor.threaded import ThreadedFrontDoor

log = logging.getLogger(__name__)


class AppDoor:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        settings = engine.settings()
        self._placed_for = door_placement(settings)
        self._enabled = settings.front_door  # on, or about to listen
        self._warn: Callable[[str], None] = log.warning
        self.door: ThreadedFrontDoor | None = None  # once it listens

    def claim(self) -> None:
        """Before the server's first start is asked for: that start waits for `start`."""
        if self._enabled:
            self._engine.place_later()

    async def start(self, warn: Callable[[str], None]) -> None:
        """Listen on the public port; if that fails, say so and let the server listen there.
        From then on the door follows the settings at each server start, and is fed the
        engine's snapshots (a rotation's new credentials among them)."""
        self._warn = warn
        if self._enabled:
            await self._open(self._engine.settings())
        self._engine.place_each_start(self._follow_settings)
        follow(self, self._engine)

    async def _open(self, settings: Settings) -> None:
        # Loaded once the tray icon is shown: the icon comes first (the door's modules: 20 ms).
        from tray.frontdoor.door import DoorConfig  # noqa: PLC0415
        from tray.frontdoor.threaded import ThreadedFrontDoor  # noqa: PLC0415

        config = DoorConfig(port=settings.port, hold_limit_s=settings.startup_timeout_s)
        # The credentials of now; the feed pushes new ones (a rotation, a late keyring).
        door = ThreadedFrontDoor(config, self._engine.snapshot().credentials)
        await self._engine.clear_leftover()
        try:
            url = await door.start()
        except OSError as error:
            self._warn(
                f"The front door could not listen on port {settings.port} "
                f"({error.strerror or error}): the server listens there itself, and clients "
                "lose their connection when it restarts."
            )
            self._enabled = False
            self._engine.serve_directly()
            return
        self._enabled = True
        self.door = door
        self._engine.serve_behind(url)

    async def _follow_settings(self, settings: Settings) -> None:
        """Before a server start: a changed port or front-door setting moves the door there,
        closes it or opens it (clients of the old port lose their connection: the address they
        use changed)."""
        wanted = door_placement(settings)
        if wanted == self._placed_for:
            return
        self._placed_for = wanted
        log.info("front door: %s", f"moving to port {settings.port}" if wanted[0] else "off")
        if self.door is not None:
            old, self.door = self.door, None
            self._enabled = False
            self._engine.serve_directly()
            await old.close()
        if wanted[0]:
            await self._open(settings)

    # -- the feed's Door: what the engine's snapshots tell the door now listening ----------------

    def server_changed(self, seen: ServerView) -> None:
        if self.door is not None:
            self.door.server_changed(seen)

    def set_hold_limit(self, seconds: float) -> None:
        if self.door is not None:
            self.door.set_hold_limit(seconds)

    def set_credentials(self, credentials: Credentials) -> None:
        if self.door is not None:
            self.door.set_credentials(credentials)

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
        """Close the door; statuses pushed after this reach no door."""
        if self.door is not None:
            door, self.door = self.door, None
            self._enabled = False
            await door.close()
