"""The front door's client for the private server: HTTP/1.1 on asyncio protocols, the answers
parsed by llhttp (httptools), over a pool of keep-alive connections.

A request either gets an `ServerResponse` (its status and headers read; the body read by the
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

import httptools

from tray.frontdoor.http import (
    LAST_CHUNK,
    READ,
    BodyBuffer,
    FlowControl,
    Headers,
    chunk,
    request_head,
)
from tray.frontdoor.sockets import readable

Address = tuple[str, int]


class UpstreamError(Exception):
    """A request to the server failed; `connected`: whether it reached the server at all."""

    def __init__(self, text: str, connected: bool) -> None:
        super().__init__(text)
        self.connected = connected


class _OutOfTurn(Exception):
    """The server sent more than the answer to what it was asked."""


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


class ServerResponse(BodyBuffer):
    """The server's response: status and headers once they are in, the body as the caller
    reads it (what arrived is kept until read; past `BUFFER_BYTES` the server is read no more)."""

    def __init__(
        self, client: UpstreamClient, connection: ServerConnection, head_only: bool
    ) -> None:
        super().__init__(self._pause, self._resume)
        self.status = 0
        self.reason = b""
        self.headers: Headers = []
        self.content_length: int | None = None
        self.head_only = head_only  # the response to a HEAD: no body, whatever its length says
        self._client = client
        self._connection: ServerConnection | None = connection
        self._read_timeout_s: float | None = None
        self.head_read = False

    @property
    def error(self) -> UpstreamError | None:
        """Why the response broke off, if it did."""
        failure = self.failure
        return failure if isinstance(failure, UpstreamError) else None

    # -- what the connection's parser tells -----------------------------------------------------

    def _headed(self, status: int, reason: bytes, headers: Headers) -> None:
        self.status, self.reason, self.headers = status, reason, headers
        length = next((v for n, v in headers if n.lower() == b"content-length"), None)
        self.content_length = int(length) if length is not None else None
        self.head_read = True
        if self.head_only:
            self.complete = True
        self.wake()

    def _pause(self) -> None:
        if self._connection is not None:
            self._connection.pause_reading()

    def _resume(self) -> None:
        if self._connection is not None:
            self._connection.resume_reading()

    async def _wait(self, timeout_s: float | None) -> None:
        try:
            await self.changed(timeout_s)
        except TimeoutError as error:
            raise UpstreamError(f"the server sent nothing for {timeout_s:g} s", True) from error

    async def _head(self, timeout_s: float | None) -> None:
        self._read_timeout_s = timeout_s
        while not self.head_read:
            if self.failure is not None:
                raise self.failure
            await self._wait(timeout_s)

    # -- the caller's ---------------------------------------------------------------------------

    async def readany(self) -> bytes:
        """The body's bytes that arrived (waiting for some if none did); b"" at its end."""
        timeout_s = self._read_timeout_s
        try:
            return await self.read_some(timeout_s)
        except TimeoutError as error:
            raise UpstreamError(f"the server sent nothing for {timeout_s:g} s", True) from error

    async def read(self) -> bytes:
        """The whole body."""
        parts = []
        while chunk := await self.readany():
            parts.append(chunk)
        return b"".join(parts)

    def release(self) -> None:
        """Done with the response: its connection goes back to the pool if it can be used
        again."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client.done_with(connection, reuse=self.complete and not self.chunks)

    def close(self) -> None:
        """Cut the response off (a stream from a server that was replaced)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client.done_with(connection, reuse=False)


class ServerConnection(FlowControl):
    """One connection to the server; each answer on it is parsed by a parser of its own."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.idle_since = 0.0
        self.response: ServerResponse | None = None
        self.closed = False  # closed, or the server said something while it was asked nothing
        self.keep_alive = True  # the last answer let the connection be used again
        self._parser: httptools.HttpResponseParser | None = None
        self._reason = b""
        self._headers: Headers = []
        self._informational = False

    def usable(self, now: float, keepalive_s: float) -> bool:
        """Fit to be used again. An idle connection with something to read was closed by the
        server (or got what it should not have); the kernel is asked, as the loop may not have
        seen it yet: a server just killed has closed its connections before anyone is told."""
        return (
            now - self.idle_since < keepalive_s
            and not self.closed
            and self.transport is not None
            and not self.transport.is_closing()
            and not readable(self.transport.get_extra_info("socket"))
        )

    def ask(self, response: ServerResponse, data: bytes) -> None:
        """Send a request (its head, and its body if whole); its response goes to `response`."""
        assert self.transport is not None
        self.response = response
        self._parser = httptools.HttpResponseParser(self)
        self.transport.write(data)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        await self.writable()
        if self.closed:
            raise ConnectionResetError("the server closed the connection")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- asyncio's callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        super().connection_lost(exc)
        response = self.response
        if response is None:
            return
        if response.head_read and not response.complete and self._ends_at_close(response):
            response.finish()
        elif not response.head_read:
            response.fail(
                UpstreamError("the server closed the connection before it answered", True)
            )
        else:
            why = f": {exc}" if exc is not None else ""
            response.fail(UpstreamError(f"the server broke off its answer{why}", True))

    def eof_received(self) -> bool:
        return False  # closes; `connection_lost` tells the answer

    def data_received(self, data: bytes) -> None:
        if self._parser is None or self.response is None:
            self.close()  # nothing was asked: the connection is not to be trusted again
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.response.fail(
                UpstreamError(f"the server's response is not HTTP/1.1 ({error})", True)
            )
            self.close()

    # -- llhttp's callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._parser is None:
            raise _OutOfTurn  # more after the response: the connection is closed
        self._reason = b""
        self._headers = []

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        # The parser is let go before the response is told: what it tells may end the answer,
        # and the connection be asked anew, from inside this call.
        assert self._parser is not None
        response = self.response
        assert response is not None
        status = self._parser.get_status_code()
        self._informational = 100 <= status < 200  # 100 Continue: the answer follows
        if not self._informational:
            self.keep_alive = self._parser.should_keep_alive()
            if response.head_only:  # no body follows, whatever the length says
                self._parser = None
            headers, self._headers = self._headers, []  # trailer fields, if any, are not kept
            response._headed(status, self._reason, headers)

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response.add(body)

    def on_message_complete(self) -> None:
        response = self.response
        assert response is not None
        if self._informational:
            self._informational = False
            return
        self._parser = None  # anything more before the next request is out of turn
        response.finish()

    @staticmethod
    def _ends_at_close(response: ServerResponse) -> bool:
        """Whether the answer's body is all that comes until the connection closes."""
        names = {n.lower() for n, _ in response.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names


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
        response = ServerResponse(self, connection, head_only=method == "HEAD")
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
