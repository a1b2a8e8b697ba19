"""The front door's client for the private server: HTTP/1.1 on asyncio protocols, the answers
parsed by llhttp (httptools), over a pool of keep-alive connections.

A request either gets an `UpstreamAnswer` (its status and headers read; the body read by the
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
from collections.abc import AsyncIterable, AsyncIterator, Callable
from urllib.parse import urlsplit

import httptools

from tray.frontdoor.flow import WriteFlow
from tray.frontdoor.heads import Headers, request_head
from tray.frontdoor.sockets import readable

Address = tuple[str, int]
READ = 64 * 1024
# An answer's body waiting for its reader past this many bytes pauses reading from the server.
BUFFER_BYTES = 256 * 1024


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


class UpstreamAnswer:
    """The server's answer: status and headers once they are in, the body as the caller reads
    it (what arrived is kept until read; past `BUFFER_BYTES` the server is read no more)."""

    def __init__(self, client: UpstreamClient, connection: _Connection, head_only: bool) -> None:
        self.status = 0
        self.reason = b""
        self.headers: Headers = []
        self.content_length: int | None = None
        self.complete = False
        self.head_only = head_only  # the answer to a HEAD: no body, whatever its length says
        self._client = client
        self._connection: _Connection | None = connection
        self._read_timeout_s: float | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self.error: UpstreamError | None = None  # it broke off
        self._changed: asyncio.Future[None] | None = None
        self.head_read = False
        # Called when the head is in, at the end, and if the answer breaks off (for a caller
        # that does not wait in a task).
        self.on_change: Callable[[], None] | None = None

    # -- what the connection's parser tells -----------------------------------------------------

    def _headed(self, status: int, reason: bytes, headers: Headers) -> None:
        self.status, self.reason, self.headers = status, reason, headers
        length = next((v for n, v in headers if n.lower() == b"content-length"), None)
        self.content_length = int(length) if length is not None else None
        self.head_read = True
        if self.head_only:
            self.complete = True
        self._wake()

    def _body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > BUFFER_BYTES and self._connection is not None:
            self._connection.pause()
        self._wake(tell=False)  # `on_change` hears of the head and the end, not of each part

    def _completed(self) -> None:
        self.complete = True
        self._wake()

    def _failed(self, error: UpstreamError) -> None:
        if not self.complete and self.error is None:
            self.error = error
        self._wake()

    def _wake(self, tell: bool = True) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        if tell and self.on_change is not None:
            self.on_change()

    async def _wait(self, timeout_s: float | None) -> None:
        self._changed = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                await self._changed
        except TimeoutError as error:
            raise UpstreamError(f"the server sent nothing for {timeout_s:g} s", True) from error
        finally:
            self._changed = None

    async def _head(self, timeout_s: float | None) -> None:
        self._read_timeout_s = timeout_s
        while not self.head_read:
            if self.error is not None:
                raise self.error
            await self._wait(timeout_s)

    # -- the caller's ---------------------------------------------------------------------------

    async def readany(self) -> bytes:
        """The body's bytes that arrived (waiting for some if none did); b"" at its end."""
        while not self._chunks and not self.complete:
            if self.error is not None:
                raise self.error
            await self._wait(self._read_timeout_s)
        return self.take()

    def take(self) -> bytes:
        """The body's bytes that arrived (b"" if none did)."""
        data = b"".join(self._chunks)
        self._chunks.clear()
        if self._buffered > BUFFER_BYTES and self._connection is not None:
            self._connection.resume()
        self._buffered = 0
        return data

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
            self._client.done_with(connection, reuse=self.complete and not self._chunks)

    def close(self) -> None:
        """Cut the answer off (a stream from a server that was replaced)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client.done_with(connection, reuse=False)


class _Connection(WriteFlow):
    """One connection to the server; each answer on it is parsed by a parser of its own."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.answer: UpstreamAnswer | None = None
        self.closed = False  # closed, or the server said something while it was asked nothing
        self.keep_alive = True  # the last answer let the connection be used again
        self._parser: httptools.HttpResponseParser | None = None
        self._reason = b""
        self._headers: Headers = []
        self._informational = False
        self._paused = False

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

    def ask(self, answer: UpstreamAnswer, data: bytes) -> None:
        """Send a request (its head, and its body if whole); its answer goes to `answer`."""
        assert self.transport is not None
        self.answer = answer
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

    def pause(self) -> None:
        if not self._paused and self.transport is not None and not self.transport.is_closing():
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.transport.is_closing():
            self._paused = False
            self.transport.resume_reading()

    # -- asyncio's callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        super().connection_lost(exc)
        answer = self.answer
        if answer is None:
            return
        if answer.head_read and not answer.complete and self._ends_at_close(answer):
            answer._completed()
        elif not answer.head_read:
            answer._failed(
                UpstreamError("the server closed the connection before it answered", True)
            )
        else:
            why = f": {exc}" if exc is not None else ""
            answer._failed(UpstreamError(f"the server broke off its answer{why}", True))

    def eof_received(self) -> bool:
        return False  # closes; `connection_lost` tells the answer

    def data_received(self, data: bytes) -> None:
        if self._parser is None or self.answer is None:
            self.close()  # nothing was asked: the connection is not to be trusted again
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self.answer._failed(
                UpstreamError(f"the server's answer is not HTTP/1.1 ({error})", True)
            )
            self.close()

    # -- llhttp's callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._parser is None:
            raise _OutOfTurn  # more after the answer: the connection is closed
        self._reason = b""
        self._headers = []

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        # The parser is let go before the answer is told: what it tells may end the answer,
        # and the connection be asked anew, from inside this call.
        assert self._parser is not None
        answer = self.answer
        assert answer is not None
        status = self._parser.get_status_code()
        self._informational = 100 <= status < 200  # 100 Continue: the answer follows
        if not self._informational:
            self.keep_alive = self._parser.should_keep_alive()
            if answer.head_only:  # no body follows, whatever the length says
                self._parser = None
            headers, self._headers = self._headers, []  # trailer fields, if any, are not kept
            answer._headed(status, self._reason, headers)

    def on_body(self, body: bytes) -> None:
        assert self.answer is not None
        self.answer._body(body)

    def on_message_complete(self) -> None:
        answer = self.answer
        assert answer is not None
        if self._informational:
            self._informational = False
            return
        self._parser = None  # anything more before the next request is out of turn
        answer._completed()

    @staticmethod
    def _ends_at_close(answer: UpstreamAnswer) -> bool:
        """Whether the answer's body is all that comes until the connection closes."""
        names = {n.lower() for n, _ in answer.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names


class UpstreamClient:
    """`limit` requests at once (0: no limit); the others wait for one to end. A connection
    idle for `keepalive_s` is closed rather than used again."""

    def __init__(self, limit: int, keepalive_s: float, connect_timeout_s: float) -> None:
        self._slots = _Slots(limit) if limit else None
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
        """Send a request to the server at `base_url`; its answer once the headers are in.
        A body given whole is sent with its length; one given in parts is sent as the
        headers say (their Content-Length, or chunked)."""
        address = address_of(base_url)
        if self._slots is not None:
            await self._slots.take()
        connection: _Connection | None = None
        try:
            connection = self._take(address) or await self._connect(address)
            chunked = False
            if isinstance(body, bytes):
                headers = [*headers, (b"content-length", str(len(body)).encode())]
            elif body is not None:
                chunked = any(n.lower() == b"transfer-encoding" for n, _ in headers)
            whole = body if isinstance(body, bytes) else b""
            answer = self._ask(connection, address, method, target, headers, body=whole)
            if body is not None and not isinstance(body, bytes):
                await _send_body(connection, body, chunked)
            await answer._head(read_timeout_s)
        except BaseException as error:
            if connection is not None:
                connection.close()
            if self._slots is not None:
                self._slots.give()
            if isinstance(error, _BodyFailed):
                raise error.error from None
            if isinstance(error, OSError):
                what = f"{type(error).__name__}: {error}"
                raise UpstreamError(f"the connection to the server broke ({what})", True) from error
            raise
        return answer

    def request_now(
        self, base_url: str, method: str, target: str, headers: Headers
    ) -> UpstreamAnswer | None:
        """A request without a body sent at once, on an idle connection to `base_url`, its
        answer told through `on_change`; None if no connection is at hand or no slot free."""
        if self._slots is not None and not self._slots.take_now():
            return None
        address = address_of(base_url)
        connection = self._take(address)
        if connection is None:
            if self._slots is not None:
                self._slots.give()
            return None
        return self._ask(connection, address, method, target, headers)

    def _ask(
        self,
        connection: _Connection,
        address: Address,
        method: str,
        target: str,
        headers: Headers,
        *,
        body: bytes = b"",
    ) -> UpstreamAnswer:
        """Send the head (and `body`, the whole of it, if any) on `connection`; its answer."""
        answer = UpstreamAnswer(self, connection, head_only=method == "HEAD")
        host = f"{address[0]}:{address[1]}".encode()
        head = request_head(method.encode(), target.encode("latin-1"), host, headers)
        connection.ask(answer, head + body)
        return answer

    def done_with(self, connection: _Connection, reuse: bool) -> None:
        if self._slots is not None:
            self._slots.give()
        connection.answer = None
        if reuse and connection.keep_alive and not connection.closed:
            connection.resume()
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

    async def _connect(self, address: Address) -> _Connection:
        loop = asyncio.get_running_loop()
        async with _connecting(self._connect_timeout_s):
            _, connection = await loop.create_connection(lambda: _Connection(address), *address)
        return connection

    def _take(self, address: Address) -> _Connection | None:
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

    def take_now(self) -> bool:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return True
        return False

    async def take(self) -> None:
        if self.take_now():
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


async def _send_body(connection: _Connection, body: AsyncIterable[bytes], chunked: bool) -> None:
    chunks = aiter(body)
    while True:
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            break
        except Exception as error:
            raise _BodyFailed(error) from error
        if chunk:
            connection.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            await connection.drain()
    if chunked:
        connection.write(b"0\r\n\r\n")
