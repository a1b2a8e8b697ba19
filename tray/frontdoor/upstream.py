"""The front door's client for the private server: HTTP/1.1 on asyncio streams, framed by h11,
over a pool of keep-alive connections.

A request either gets an `Answer` (its status and headers read; the body read by the caller,
then `release()`d to the pool or `close()`d), or raises `UpstreamError`, which says whether
anything reached the server (`connected`). What a streamed request body raises (its client
went away) goes up unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from tray.frontdoor.sockets import readable

Headers = list[tuple[bytes, bytes]]
Address = tuple[str, int]
READ = 64 * 1024


class UpstreamError(Exception):
    """A request to the server failed; `connected`: whether it reached the server at all."""

    def __init__(self, text: str, connected: bool) -> None:
        super().__init__(text)
        self.connected = connected


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


async def connect(
    address: Address, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        async with asyncio.timeout(timeout_s):
            return await asyncio.open_connection(*address, limit=READ)
    except TimeoutError as error:
        raise UpstreamError(f"could not connect within {timeout_s:g} s", False) from error
    except OSError as error:
        raise UpstreamError(f"could not connect: {error}", False) from error


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection
    address: Address
    idle_since: float = 0.0

    def usable(self, now: float, keepalive_s: float) -> bool:
        """Fit to be used again. An idle connection with something to read was closed by the
        server (or got what it should not have); the kernel is asked, as the loop may not have
        seen it yet: a server just killed has closed its connections before anyone is told."""
        return (
            now - self.idle_since < keepalive_s
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            and not readable(self.writer.get_extra_info("socket"))
        )


class UpstreamAnswer:
    """The server's answer: status and headers now, the body as the caller reads it."""

    def __init__(
        self,
        client: UpstreamClient,
        connection: _Connection,
        response: h11.Response,
        read_timeout_s: float | None,
    ) -> None:
        self.status = response.status_code
        self.reason = bytes(response.reason)
        self.headers: Headers = list(response.headers.raw_items())
        length = next((v for n, v in response.headers if n == b"content-length"), None)
        self.content_length = int(length) if length is not None else None
        self.complete = False
        self._client = client
        self._connection: _Connection | None = connection
        self._read_timeout_s = read_timeout_s

    async def readany(self) -> bytes:
        """The body's bytes that arrived (waiting for some if none did); b"" at its end."""
        parts: list[bytes] = []
        connection = self._connection
        try:
            while not self.complete and connection is not None:
                event = connection.protocol.next_event()
                if isinstance(event, h11.Data):
                    parts.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    self.complete = True
                elif event is h11.NEED_DATA:
                    if parts:
                        break
                    await _receive(connection, self._read_timeout_s)
                else:
                    raise UpstreamError(f"the server broke off its answer ({event})", True)
        except (OSError, h11.ProtocolError) as error:
            raise UpstreamError(f"the server broke off its answer: {error}", True) from error
        return b"".join(parts)

    async def read(self) -> bytes:
        """The whole body."""
        parts = []
        while chunk := await self.readany():
            parts.append(chunk)
        return b"".join(parts)

    def release(self) -> None:
        """Done with the answer: its connection goes back to the pool if it can be used again."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client.done_with(connection, reuse=self.complete)

    def close(self) -> None:
        """Cut the answer off (a stream from a server that was replaced)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client.done_with(connection, reuse=False)


class UpstreamClient:
    """`limit` requests at once (0: no limit); the others wait for one to end. A connection
    idle for `keepalive_s` is closed rather than used again."""

    def __init__(self, limit: int, keepalive_s: float, connect_timeout_s: float) -> None:
        self._slots = asyncio.Semaphore(limit) if limit else None
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self._idle: list[_Connection] = []  # the most recently used last
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
    ) -> UpstreamAnswer:
        """Send a request to the server at `base_url`; its answer once the headers are in."""
        address = address_of(base_url)
        if self._slots is not None:
            await self._slots.acquire()
        connection: _Connection | None = None
        try:
            connection = self._take(address)
            if connection is None:
                reader, writer = await connect(address, self._connect_timeout_s)
                connection = _Connection(reader, writer, h11.Connection(h11.CLIENT), address)
            host = f"{address[0]}:{address[1]}".encode()
            head = h11.Request(method=method, target=target, headers=[(b"host", host), *headers])
            await _send(connection, head, body)
            response = await _response(connection, read_timeout_s)
        except BaseException as error:
            if connection is not None:
                connection.writer.close()
            if self._slots is not None:
                self._slots.release()
            if isinstance(error, _BodyFailed):
                raise error.error from None
            if isinstance(error, (OSError, h11.ProtocolError)):
                what = f"{type(error).__name__}: {error}"
                raise UpstreamError(f"the connection to the server broke ({what})", True) from error
            raise
        return UpstreamAnswer(self, connection, response, read_timeout_s)

    def done_with(self, connection: _Connection, reuse: bool) -> None:
        if self._slots is not None:
            self._slots.release()
        state = connection.protocol
        if reuse and state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
            if self._sweep is None:
                loop = asyncio.get_running_loop()
                self._sweep = loop.call_later(self._keepalive_s, self._close_expired)
        else:
            connection.writer.close()

    async def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        for connection in self._idle:
            connection.writer.close()
        self._idle.clear()

    def _take(self, address: Address) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.address == address and connection.usable(now, self._keepalive_s):
                return connection
            connection.writer.close()  # expired, closed, or for a server that is gone
        return None

    def _close_expired(self) -> None:
        """Close what was idle too long; a timer only while something is idle."""
        now = time.monotonic()
        kept = [c for c in self._idle if c.usable(now, self._keepalive_s)]
        for connection in self._idle:
            if connection not in kept:
                connection.writer.close()
        self._idle = kept
        self._sweep = None
        if kept:
            wait = kept[0].idle_since + self._keepalive_s - now
            self._sweep = asyncio.get_running_loop().call_later(wait, self._close_expired)


async def _send(
    connection: _Connection, head: h11.Request, body: bytes | AsyncIterable[bytes] | None
) -> None:
    """The head goes out with the first part of the body (one segment for a small request)."""
    writer, state = connection.writer, connection.protocol
    unsent = state.send(head) or b""
    if isinstance(body, bytes):
        unsent += state.send(h11.Data(data=body)) or b""
    elif body is not None:
        chunks = aiter(body)
        while True:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except Exception as error:
                raise _BodyFailed(error) from error
            writer.write(unsent + (state.send(h11.Data(data=chunk)) or b""))
            unsent = b""
            await writer.drain()
    writer.write(unsent + (state.send(h11.EndOfMessage()) or b""))
    await writer.drain()


async def _response(connection: _Connection, read_timeout_s: float | None) -> h11.Response:
    while True:
        try:
            event = connection.protocol.next_event()
        except h11.RemoteProtocolError as error:
            if connection.reader.at_eof():
                closed = "the server closed the connection before it answered"
                raise UpstreamError(closed, True) from error
            raise UpstreamError(f"the server's answer is not HTTP/1.1 ({error})", True) from error
        if isinstance(event, h11.Response):
            return event
        if event is h11.NEED_DATA:
            await _receive(connection, read_timeout_s)
        elif not isinstance(event, h11.InformationalResponse):  # 100 Continue: read on
            raise UpstreamError(f"the server closed the connection ({event})", True)


async def _receive(connection: _Connection, timeout_s: float | None) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            data = await connection.reader.read(READ)
    except TimeoutError as error:
        raise UpstreamError(f"the server sent nothing for {timeout_s:g} s", True) from error
    connection.protocol.receive_data(data)
