"""A strict client: one `GET /global/event` that it never reconnects, and that ends at the first
transport error, the way t3code's OpenCode adapter ends its session ("recoverable: false").

    async with StrictClient(target) as client:
        await client.wait_for(lambda e: e.type == "session.created")
        client.error   # None while the stream is healthy; the error text once it broke
        client.ended   # the stream ended cleanly

It uses httpx and httpx-sse, as the tray's own engine does, with a read timeout (a watchdog:
silence that long is an error, as a client with a heartbeat watchdog would judge it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import httpx_sse

from tests.clients.target import Target

READ_TIMEOUT_S = 30.0  # three of the server's 10 s heartbeats


@dataclass(frozen=True)
class Event:
    at: float  # time.monotonic() on arrival
    type: str
    directory: str | None
    properties: dict[str, Any]


class StrictClient:
    def __init__(self, target: Target, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.target = target
        self.events: list[Event] = []
        self.status: int | None = None  # of the stream's response
        self.error: str | None = None
        self.ended = False
        self._timeout = httpx.Timeout(10.0, read=read_timeout_s)
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> StrictClient:
        self._task = asyncio.ensure_future(self._listen())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def done(self) -> bool:
        return self.error is not None or self.ended

    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def since(self, mark: float) -> list[Event]:
        return [event for event in self.events if event.at >= mark]

    async def wait_for(
        self, predicate: Callable[[Event], bool], within: float = 30.0, after: float = 0.0
    ) -> Event:
        """The first event (arrived at or after `after`) that satisfies `predicate`; raises
        AssertionError with what was seen when the stream breaks or nothing comes in time."""
        deadline = time.monotonic() + within
        while True:
            for event in self.events:
                if event.at >= after and predicate(event):
                    return event
            if self.done:
                raise AssertionError(f"strict client's stream is over: {self.describe()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such event within {within:.0f} s: {self.describe()}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def wait_done(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while not self.done and time.monotonic() < deadline:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())

    def describe(self) -> str:
        tail = ", ".join(self.types()[-8:])
        return f"status {self.status}, error {self.error!r}, ended {self.ended}, last: {tail}"

    async def _listen(self) -> None:
        headers = {"Authorization": self.target.basic}
        try:
            async with (
                httpx.AsyncClient(timeout=self._timeout) as http,
                httpx_sse.aconnect_sse(
                    http, "GET", f"{self.target.url}/global/event", headers=headers
                ) as source,
            ):
                self.status = source.response.status_code
                if self.status != 200:
                    self.error = f"HTTP {self.status}"
                    return
                async for sse in source.aiter_sse():
                    data = json.loads(sse.data)
                    payload = data.get("payload", {})
                    self.events.append(
                        Event(
                            time.monotonic(),
                            payload.get("type", ""),
                            data.get("directory"),
                            payload.get("properties") or {},
                        )
                    )
                    self._arrived.set()
            self.ended = True
        except (httpx.HTTPError, httpx_sse.SSEError, ValueError) as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self._arrived.set()
