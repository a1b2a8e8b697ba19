"""Where the server listens: on the public port itself, or behind a front door on a private
port of its own. Settled before each start, the old server gone."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tray.core.settings import Settings
from tray.engine import ports


def door_placement(settings: Settings) -> tuple[bool, int]:
    """What decides where a front door is: whether there is one, and its port."""
    return settings.front_door, settings.port


class Placement:
    """`public_url` is the front door's address while the server runs behind one."""

    def __init__(self, public_url: str | None) -> None:
        self.public_url = public_url
        self._placed = asyncio.Event()  # cleared while a front door is yet to take the port
        self._placed.set()
        self._place: Callable[[Settings], Awaitable[None]] | None = None

    @property
    def behind_door(self) -> bool:
        return self.public_url is not None

    def later(self) -> None:
        """A front door is about to take the public port: starts wait for `behind`/`directly`."""
        self._placed.clear()

    def behind(self, public_url: str) -> None:
        self.public_url = public_url
        self._placed.set()

    def directly(self) -> None:
        self.public_url = None
        self._placed.set()

    def each_start(self, place: Callable[[Settings], Awaitable[None]]) -> None:
        self._place = place

    async def settle(self, settings: Callable[[], Settings]) -> None:
        """Before a spawn: wait for a front door taking the port, then let it follow the
        settings in effect then."""
        await self._placed.wait()
        if self._place is not None:
            await self._place(settings())

    def port(self, settings: Settings) -> int:
        """The port the server starting now listens on."""
        return ports.any_free() if self.behind_door else settings.port
