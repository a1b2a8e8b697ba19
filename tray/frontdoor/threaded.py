"""A front door on its own asyncio loop in a thread, with the methods of `FrontDoor`.

The app's loop is Qt's (qasync): a busy UI delays every callback on it. Here the relays run on
a loop of their own; the app's calls cross over with `call_soon_threadsafe` (data still flows
one way: the app pushes server changes, reads stats)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from tray.core.door.phases import Credentials, ServerView
from tray.core.door.stats import DoorStats
from tray.frontdoor.door import DoorConfig, FrontDoor

T = TypeVar("T")
CALL_TIMEOUT_S = 5.0


class ThreadedFrontDoor:
    def __init__(self, config: DoorConfig, credentials: Credentials) -> None:
        self.config = config
        self._credentials = credentials
        self._loop: asyncio.AbstractEventLoop | None = None
        self._door: FrontDoor | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self._running().url

    async def start(self) -> str:
        ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="front door", daemon=True
        )
        self._thread.start()
        return await asyncio.wrap_future(ready)

    def _serve(self, ready: concurrent.futures.Future[str]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._door = FrontDoor(self.config, self._credentials)
        try:
            ready.set_result(loop.run_until_complete(self._door.start()))
        except BaseException as error:  # the caller of start() gets it
            ready.set_exception(error)
            loop.close()
            return
        loop.run_forever()
        loop.close()

    def _running(self) -> FrontDoor:
        assert self._door is not None, "start the door first"
        return self._door

    def _call(self, function: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(function, *args)

    def _await(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def server_changed(self, seen: ServerView) -> None:
        self._call(self._running().server_changed, seen)

    def set_hold_limit(self, seconds: float) -> None:
        self._call(self._running().set_hold_limit, seconds)

    def set_credentials(self, credentials: Credentials) -> None:
        self._call(self._running().set_credentials, credentials)

    def login_url(self, target: str) -> str:
        door = self._running()

        async def issue() -> str:
            return door.login_url(target)

        return self._await(issue()).result(CALL_TIMEOUT_S)

    def stats(self) -> DoorStats:
        return self._running().stats()

    async def close(self) -> None:
        if self._loop is None or self._door is None:
            return
        await asyncio.wrap_future(self._await(self._door.close()))
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
