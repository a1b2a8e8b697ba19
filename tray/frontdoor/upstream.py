"""The front door's client for the private server: HTTP/1.1 over a pool of keep-alive
connections (`server_connection`).

A request either gets a `ServerResponse` (its status and headers read; the body read by the
caller, then `release()`d to the pool or `close()`d), or raises `UpstreamError`, which says
whether anything reached the server (`connected`). What a streamed request body raises (its
client went away) goes up unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from typing import NoReturn
from urllib.parse import urlsplit

from tray.frontdoor.http import (
    LAST_CHUNK,
    READ,
    Headers,
    chunk,
    request_head,
)
from tray.frontdoor.server_connection import (
    Address,
    ServerConnection,
    ServerResponse,
    UpstreamError,
)


class _BodyFailed(Exception):
    """The request body being sent raised `error`: the caller's to handle, not the server's."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@functools.lru_cache(maxsize=8)  # asked at every request; a server's address is new per start
def address_of(base_url: str) -> Address:
    parts = urlsplit(base_url)
    assert parts.hostname is not None, base_url
    assert parts.port is not None, base_url
    return parts.hostname, parts.port


@contextlib.asynccontextmanager
async def _connecting(timeout_s: float) -> AsyncIterator[None]:
    """A connection made within `timeout_s`, or `UpstreamError` (nothing reached the server)."""
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except TimeoutError as error:
        raise UpstreamError(f"could not connect within {timeout_s:g} s", False) from error
    except OSError as error:
        raise UpstreamError(f"could not connect: {error}", False) from error


async def connect(
    address: Address, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain stream connection (the WebSocket tunnel's)."""
    async with _connecting(timeout_s):
        return await asyncio.open_connection(*address, limit=READ)


class UpstreamClient:
    """`limit` requests at once (0: no limit); the others wait for one to end. A connection
    idle for `keepalive_s` is closed rather than used again."""

    def __init__(self, limit: int, keepalive_s: float, connect_timeout_s: float) -> None:
        self._slots = _Slots(limit) if limit else None
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._idle: list[ServerConnection] = []  # the most recently used last
        self._sweep: asyncio.TimerHandle | None = None

    async def request(
        self,
        base_url: str,
        method: str,
        target: str,
        headers: Headers,
        *,
        body: bytes | AsyncIterable[bytes] | None = None,
        read_timeout_s: float | None = None,
    ) -> ServerResponse:
        """Send a request to the server at `base_url`; its response once the headers are in.
        A body given whole is sent with its length; one given in parts is sent as the
        headers say (their Content-Length, or chunked)."""
        address = address_of(base_url)
        if self._slots is not None:
            await self._slots.take()
        connection: ServerConnection | None = None
        try:
            connection = self._take(address) or await self._connect(address)
            response = await self._ask(connection, address, method, target, headers, body=body)
            await response._head(read_timeout_s)
        except BaseException as error:
            if connection is not None:
                connection.close()
            if self._slots is not None:
                self._slots.give()
            _reraise(error)
        return response

    async def _ask(
        self,
        connection: ServerConnection,
        address: Address,
        method: str,
        target: str,
        headers: Headers,
        *,
        body: bytes | AsyncIterable[bytes] | None,
    ) -> ServerResponse:
        """Send the request on `connection`; its response, to be read."""
        whole = b""
        if isinstance(body, bytes):
            headers = [*headers, (b"content-length", str(len(body)).encode())]
            whole = body
        response = ServerResponse(connection, method == "HEAD", self.done_with)
        host = f"{address[0]}:{address[1]}".encode()
        head = request_head(method.encode(), target.encode("latin-1"), host, headers)
        connection.ask(response, head + whole)
        if body is not None and not isinstance(body, bytes):
            chunked = any(n.lower() == b"transfer-encoding" for n, _ in headers)
            await _send_body(connection, body, chunked)
        return response

    def done_with(self, connection: ServerConnection, reuse: bool) -> None:
        if self._slots is not None:
            self._slots.give()
        connection.response = None
        if reuse and connection.keep_alive and not connection.closed:
            connection.resume_reading()
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
            if self._sweep is None:
                loop = asyncio.get_running_loop()
                self._sweep = loop.call_later(self._keepalive_s, self._close_expired)
        else:
            connection.close()

    async def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def _connect(self, address: Address) -> ServerConnection:
        loop = asyncio.get_running_loop()
        async with _connecting(self._connect_timeout_s):
            _, connection = await loop.create_connection(
                lambda: ServerConnection(address), *address
            )
        return connection

    def _take(self, address: Address) -> ServerConnection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.address == address and connection.usable(now, self._keepalive_s):
                return connection
            connection.close()  # expired, closed, or for a server that is gone
        return None

    def _close_expired(self) -> None:
        """Close what was idle too long; a timer only while something is idle."""
        now = time.monotonic()
        kept = [c for c in self._idle if c.usable(now, self._keepalive_s)]
        for connection in self._idle:
            if connection not in kept:
                connection.close()
        self._idle = kept
        self._sweep = None
        if kept:
            wait = kept[0].idle_since + self._keepalive_s - now
            self._sweep = asyncio.get_running_loop().call_later(wait, self._close_expired)


class _Slots:
    """`limit` requests at once; the others wait their turn, first come first served."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def take(self) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give()  # given a slot as it was cancelled: the next one's
            raise

    def give(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


async def _send_body(
    connection: ServerConnection, body: AsyncIterable[bytes], chunked: bool
) -> None:
    parts = aiter(body)
    while True:
        try:
            part = await anext(parts)
        except StopAsyncIteration:
            break
        except Exception as error:
            raise _BodyFailed(error) from error
        if part:
            connection.write(chunk(part) if chunked else part)
            await connection.drain()
    if chunked:
        connection.write(LAST_CHUNK)


def _reraise(error: BaseException) -> NoReturn:
    """`error`, met sending a request, as the caller is to see it."""
    if isinstance(error, _BodyFailed):
        raise error.error from None
    if isinstance(error, OSError):
        what = f"{type(error).__name__}: {error}"
        raise UpstreamError(f"the connection to the server broke ({what})", True) from error
    raise error
