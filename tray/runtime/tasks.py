"""Background tasks nobody awaits: held until they end (the loop keeps only weak references),
their failures handed to whoever owns them, and ended together when the owner closes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Tasks:
    """`on_failure(error, name)` runs for each task that raises (not for one cancelled). The
    tasks run on `loop`, or else on the event loop of the moment each one starts."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None,
        on_failure: Callable[[BaseException, str], None],
    ) -> None:
        self._loop = loop
        self._on_failure = on_failure
        self._running: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = (self._loop or asyncio.get_event_loop()).create_task(coro, name=name)
        self._running.add(task)
        task.add_done_callback(self._done)
        return task

    def __bool__(self) -> bool:
        return bool(self._running)

    async def wait(self) -> None:
        """Until every task started so far has ended, however it ends."""
        await asyncio.gather(*self._running, return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every task and wait until they have ended."""
        for task in self._running:
            task.cancel()
        await self.wait()

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self._on_failure(error, task.get_name())
