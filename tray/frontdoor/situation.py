"""What every relay of the front door reads: its configuration, the server as the door last heard
of it, the clock, and a wakeup at each change of the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from tray.core.door.phases import ServerView
from tray.core.status import State
from tray.frontdoor.config import DoorConfig

log = logging.getLogger(__name__)


class Situation:
    def __init__(self, config: DoorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.view = ServerView(State.STARTING, None)
        self.closing = False
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self.changed: asyncio.Future[None] | None = None  # done at the next server change

    def start(self) -> None:
        """On the loop the door runs on."""
        self._loop = asyncio.get_running_loop()
        self.changed = self._loop.create_future()

    def now(self) -> float:
        return self._clock()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        task.add_done_callback(_log_failure)

    def wake(self) -> None:
        """The server changed: whoever waits for it looks again."""
        assert self._loop is not None
        if self.changed is not None and not self.changed.done():
            self.changed.set_result(None)
        self.changed = self._loop.create_future()

    async def wait_change(self, until: float | None) -> None:
        """Until the next server change, or the monotonic time `until`."""
        assert self.changed is not None
        timeout = None if until is None else max(0.0, until - self.now())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for: see `StreamRelay.tick`
                await asyncio.shield(self.changed)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("front door task failed", exc_info=task.exception())
