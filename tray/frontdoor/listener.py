"""The front door's public side: HTTP/1.1 on asyncio protocols, parsed by llhttp (httptools).

Each connection is a protocol that feeds what arrives to llhttp, and answers its requests one
at a time (keep-alive; a pipelined request waits its turn, and the connection is not read
meanwhile), each by its handler run in a task of its own. A request's body arrives into a
buffer the handler reads; past `BUFFER_BYTES` the connection is not read until the handler
catches up.

A client that goes away cancels its request's handler, so nothing stays held for it: at once
if its connection breaks; if it closes its side (which a client that gives up does, and one
that only half-closes looks the same), once the handler has worked `WATCH_AFTER_S`. While the
connection is not read, the kernel is asked every `HANGUP_POLL_S` whether the client hung up
(Linux tells; elsewhere it is seen once reading resumes). A request llhttp cannot parse, or
whose head is over the bounds, gets the answer `bad_request` builds, and the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import parse_qsl, unquote

import httptools

from tray.frontdoor.http import (
    LAST_CHUNK,
    READ,
    BodyBuffer,
    FlowControl,
    Headers,
    chunk,
    response_head,
)
from tray.frontdoor.sockets import HANGUP, hung_up

log = logging.getLogger(__name__)

# A connection waiting for its next request (or for the rest of a request's head) is closed
# after this long, as most servers do.
IDLE_S = 75.0
# On close: how long handlers get to answer (held requests get their 503, streams end).
CLOSE_GRACE_S = 5.0
# A client that closes its side while its request is at work this long is gone.
WATCH_AFTER_S = 0.05
# How often a client not being read is looked for (`sockets.hung_up`).
HANGUP_POLL_S = 0.5
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY = frozenset({204, 304})
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})


class ClientGone(ConnectionError):
    """The client closed its connection or stopped reading; nothing more reaches it."""


@dataclass(frozen=True)
class Response:
    """A whole response to a client: status, headers and body."""

    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    reason: bytes = b""


class Request:
    """What the client asked, as llhttp read it; the values the door looks at, decoded."""

    def __init__(
        self, method: bytes, target: bytes, headers: Headers, version: str, keep_alive: bool
    ) -> None:
        self.method = method.decode("ascii")
        self.raw_path = target.decode("ascii")  # llhttp lets only visible ASCII through
        path, _, self.query_string = self.raw_path.partition("?")
        self.path = unquote(path)
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self._lower = {name.lower(): value for name, value in reversed(self.headers)}
        length = self._lower.get(b"content-length")
        self.content_length = int(length) if length is not None else None  # llhttp checked it
        self.body_exists = bool(self.content_length) or b"transfer-encoding" in self._lower

    def header(self, name: str) -> str | None:
        """The first value of header `name` (any case), or None."""
        value = self._lower.get(name.lower().encode("ascii"))
        return None if value is None else value.decode("latin-1")

    @cached_property
    def query(self) -> dict[str, str]:
        """Each query parameter's first value."""
        first: dict[str, str] = {}
        for name, value in parse_qsl(self.query_string, keep_blank_values=True):
            first.setdefault(name, value)
        return first

    @cached_property
    def cookies(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in (self.header("cookie") or "").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep:
                found.setdefault(name, value.strip('"'))
        return found


class _Message(BodyBuffer):
    """A request as it arrives: its head, then its body, kept until the handler reads it."""

    def __init__(self, request: Request, connection: ClientConnection) -> None:
        super().__init__(connection.pause_reading, connection.caught_up)
        self.request = request
        self.upgrade = False


class Exchange:
    """One request and its answer: a `Response` at once, or a response started and written in
    parts (a large body, an event stream), or a switch to another protocol (WebSocket)."""

    def __init__(self, connection: ClientConnection, message: _Message) -> None:
        self.request = message.request
        self._connection = connection
        self._message = message
        self.started = False
        self.switched = False
        self.finished = False  # the whole answer was written
        self.close_after = False  # the connection closes after the answer
        self._chunked = False
        self._bodyless = False

    async def body(self) -> AsyncIterator[bytes]:
        """The request's body, as it arrives; `ClientGone` if the client breaks it off."""
        message = self._message
        if (
            not message.arrived
            and not message.complete
            and (self.request.header("expect") or "").lower() == "100-continue"
            and self.request.version == "1.1"
        ):
            self._connection.write(_CONTINUE)
        while data := await message.read_some():
            yield data

    async def respond(self, response: Response) -> None:
        """The whole response in one write: one segment, one wakeup for the client."""
        self.respond_now(response)
        await self._connection.drain()

    def respond_now(self, response: Response) -> None:
        """`response` written now (without waiting for the client to read it)."""
        self.started = True
        headers, framing = _framing_apart(response.headers)
        length = framing.get(b"content-length")
        if self.request.method != "HEAD" or length is None:  # a HEAD's: the server's, for a GET
            length = str(len(response.body)).encode()
        headers.append((b"content-length", length))
        self._connection_header(headers, framing)
        head = response_head(response.status, response.reason, headers)
        bodyless = self.request.method == "HEAD" or response.status in _NO_BODY
        self._send(head if bodyless else head + response.body)
        self.finished = True

    async def start(self, status: int, headers: Headers, reason: bytes = b"") -> None:
        """Send the status and headers; with neither Content-Length nor Transfer-Encoding among
        them, the body is sent chunked (to an HTTP/1.0 client: until the connection closes)."""
        self.started = True
        headers, framing = _framing_apart(headers)
        self._bodyless = self.request.method == "HEAD" or status in _NO_BODY
        length = framing.get(b"content-length")
        if length is not None:
            headers.append((b"content-length", length))
        elif not self._bodyless:
            if self.request.version == "1.1":
                self._chunked = True
                headers.append((b"transfer-encoding", b"chunked"))
            else:
                self.close_after = True
        self._connection_header(headers, framing)
        self._send(response_head(status, reason, headers))

    async def write(self, data: bytes) -> None:
        """Part of the body; `ClientGone` once the client is."""
        if data and not self._bodyless:
            self._send(chunk(data) if self._chunked else data)
            await self._connection.drain()

    async def end(self) -> None:
        if self._chunked:
            self._send(LAST_CHUNK)
        self.finished = True
        await self._connection.drain()

    async def switch(
        self, headers: Headers
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
        """Answer 101 with `headers`; the connection is the caller's from now on, as streams
        (with the bytes the client sent after its request)."""
        self.started = self.switched = True
        self._send(response_head(101, b"", headers))
        return self._connection.switch()

    @property
    def request_read(self) -> bool:
        """Whether the whole request arrived (its body too)."""
        return self._message.complete

    @property
    def gone(self) -> bool:
        """Whether the client went away."""
        return self._connection.gone

    def _connection_header(self, headers: Headers, framing: dict[bytes, bytes]) -> None:
        """Add `Connection: close` to `headers` if the connection closes after the answer."""
        if (
            self.close_after
            or not self.request.keep_alive
            or self._message.upgrade
            or self._connection.closing
            or framing.get(b"connection", b"").lower() == b"close"
        ):
            self.close_after = True
            headers.append((b"connection", b"close"))

    def _send(self, data: bytes) -> None:
        if self._connection.gone:
            raise ClientGone("the client went away")
        self._connection.write(data)


def _framing_apart(headers: Headers) -> tuple[Headers, dict[bytes, bytes]]:
    """The fields the listener does not set, and those it does (the body's framing and the
    connection's end) by their lowercase name."""
    kept: Headers = []
    framing: dict[bytes, bytes] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _FRAMING:
            framing.setdefault(lower, value)
        else:
            kept.append((name, value))
    return kept, framing


Handler = Callable[[Exchange], Coroutine[None, None, None]]


class _Refused(Exception):
    """A request head over a bound (the status and why are kept by the connection)."""


class ClientConnection(FlowControl):
    """One client's connection: llhttp's callbacks, and the task answering its request."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[_Message] = deque()  # parsed requests, the one answered first
        self._parsing: _Message | None = None  # the request whose body is arriving
        self._url = b""
        self._headers: Headers = []
        self._head_bytes = 0
        self._refusal: tuple[int, str] | None = None  # to answer once the queue is empty
        self.exchange: Exchange | None = None  # the request being answered
        self.task: asyncio.Task[None] | None = None  # its handler
        self._over: asyncio.Future[None] | None = None  # for `Listener.close`: the answer ended
        self._started_at = 0.0
        self._idle: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._hangup: asyncio.TimerHandle | None = None
        self._trailing = b""  # what came after an upgrade request
        self._switched = False
        self._ended = False  # the client closed its side
        self.gone = False

    @property
    def closing(self) -> bool:
        return self._listener.closing

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        await self.writable()
        if self.gone:
            raise ClientGone("the client went away")

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Give up on the request being answered (the listener closing after its grace)."""
        if self.task is not None:
            self.task.cancel()
        self.close()

    def caught_up(self) -> None:
        """The handler read the buffered body: read on, unless waiting is still due."""
        if (
            self.reading_paused
            and len(self._queue) <= 1
            and self._refusal is None
            and not self._trailing_due
        ):
            if self._hangup is not None:
                self._hangup.cancel()
            self.resume_reading()

    @property
    def _trailing_due(self) -> bool:
        """An upgrade request was read: what follows is not HTTP, or not read by llhttp."""
        return any(message.upgrade for message in self._queue)

    def switch(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
        assert self.transport is not None
        self._switched = True
        self._cancel_timers()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READ)
        protocol = asyncio.StreamReaderProtocol(reader)
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        writer = asyncio.StreamWriter(self.transport, protocol, reader, loop)
        self.transport.resume_reading()
        return reader, writer, self._trailing

    # -- asyncio's callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._listener.connections.add(self)
        self._start_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.connections.discard(self)
        self._cancel_timers()
        super().connection_lost(exc)
        self._left()

    def eof_received(self) -> bool:
        self._ended = True
        if self._parsing is not None:
            self._parsing.fail(ClientGone("the client closed its connection before its body ended"))
        if self.exchange is None:
            return False  # closes
        loop = asyncio.get_running_loop()
        later = self._started_at + WATCH_AFTER_S - loop.time()
        loop.call_later(max(0.0, later), self._gone_if_busy, self.exchange)
        return True  # its answer may still be written (and the connection closes after it)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._trailing = data[upgrade.args[0] :]
            self.pause_reading()
        except httptools.HttpParserError as error:
            self.pause_reading()
            if self._parsing is not None:  # mid-body: the handler hears it reading
                self._parsing.fail(ClientGone(f"the client broke off its body: {error}"))
                self._refusal = self._refusal or (400, "")
            else:
                why = f"the request is not valid HTTP/1.1 ({error})"
                self._refusal = self._refusal or (400, why)
            self._next()
            return
        if len(self._queue) > 1:
            self.pause_reading()  # pipelined: read on once the request before is answered

    # -- llhttp's callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))
        self._count(len(name) + len(value))
        if len(self._headers) > self._listener.max_headers:
            self._refuse(431, f"the request has over {self._listener.max_headers} header fields")

    def on_headers_complete(self) -> None:
        parser = self._parser
        request = Request(
            parser.get_method(),
            self._url,
            self._headers,
            parser.get_http_version(),
            parser.should_keep_alive(),
        )
        self._headers = []  # a chunked body's trailer fields, if any, are counted, not kept
        message = _Message(request, self)
        message.upgrade = parser.should_upgrade()
        self._parsing = message
        self._queue.append(message)
        if request.body_exists:
            self._next()  # its handler reads the body as it comes

    def on_body(self, body: bytes) -> None:
        assert self._parsing is not None
        self._parsing.add(body)

    def on_message_complete(self) -> None:
        assert self._parsing is not None
        self._parsing.finish()
        self._parsing = None
        self._next()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._listener.max_head_bytes:
            self._refuse(431, self._listener.head_too_large)

    def _refuse(self, status: int, why: str) -> None:
        self._refusal = (status, why)
        raise _Refused(why)

    # -- the requests, one after another --------------------------------------------------------

    def _next(self) -> None:
        """Answer the next request, if none is being answered; or end the connection."""
        transport = self.transport
        if self.exchange is not None or self._switched or transport is None:
            return
        if transport.is_closing():
            return
        if self._queue:
            self._started_at = asyncio.get_running_loop().time()
            message = self._queue[0]
            exchange = self.exchange = Exchange(self, message)
            self.task = asyncio.get_running_loop().create_task(self._answer(exchange))
        elif self._refusal is not None:
            status, why = self._refusal
            if why:
                self._listener.refuse(transport, status, why)
            transport.close()
        elif self._ended or self.gone or self.closing:
            transport.close()
        else:
            self._start_idle()

    async def _answer(self, exchange: Exchange) -> None:
        try:
            await self._listener.run(exchange)
        finally:
            self.task = None
            self.finish(exchange)

    def finish(self, exchange: Exchange) -> None:
        """`exchange` is over: the next request, or the connection's end."""
        self.exchange = None
        self._queue.popleft()
        if self._over is not None and not self._over.done():
            self._over.set_result(None)
        if exchange.switched:
            self.close()  # the tunnel ended
            return
        keep = (
            exchange.request_read
            and exchange.finished
            and not exchange.close_after
            and not self.gone
            and not self._ended
            and not self.closing
        )
        if not keep:
            self.close()
            return
        self.caught_up()
        self._next()

    def over(self) -> asyncio.Future[None]:
        """Done once the request being answered is (at once if none is)."""
        if self._over is None or self._over.done():
            self._over = asyncio.get_running_loop().create_future()
        if self.exchange is None:
            self._over.set_result(None)
        return self._over

    def _left(self) -> None:
        """The client is gone: its requests are let go."""
        self.gone = True
        for message in self._queue:
            message.fail(ClientGone("the client went away"))
        if self.task is not None and not self._switched:
            self.task.cancel()
        if self._over is not None and not self._over.done():
            self._over.set_result(None)

    def _gone_if_busy(self, exchange: Exchange) -> None:
        if self.exchange is exchange:
            self._left()

    def pause_reading(self) -> bool:
        paused = super().pause_reading()
        if paused and HANGUP and self._hangup is None:
            self._hangup = asyncio.get_running_loop().call_later(HANGUP_POLL_S, self._look)
        return paused

    def _look(self) -> None:
        """While the client is not read: whether it hung up (Linux tells; see `HANGUP`)."""
        self._hangup = None
        if not self.reading_paused or self._switched or self.transport is None:
            return
        if self.transport.is_closing() or hung_up(self.transport.get_extra_info("socket")):
            self._left()
            self.transport.close()
        else:
            self._hangup = asyncio.get_running_loop().call_later(HANGUP_POLL_S, self._look)

    def _start_idle(self) -> None:
        """From now, the connection waits for a request. (One timer, moved on only when it
        is due: arming one for each request cost more than the rest of the listener.)"""
        loop = asyncio.get_running_loop()
        self._idle_since = loop.time()
        if self._idle is None:
            self._idle = loop.call_later(IDLE_S, self._idle_due)

    def _idle_due(self) -> None:
        self._idle = None
        if self.exchange is not None or self._queue:
            return  # at work; `_start_idle` arms it again
        waited = asyncio.get_running_loop().time() - self._idle_since
        if waited >= IDLE_S:
            self.close()
        else:
            self._idle = asyncio.get_running_loop().call_later(IDLE_S - waited, self._idle_due)

    def _cancel_timers(self) -> None:
        for timer in (self._idle, self._hangup):
            if timer is not None:
                timer.cancel()
        self._idle = self._hangup = None


class Listener:
    """Accepts connections on `host:port` and runs `handler` for each request."""

    def __init__(
        self,
        handler: Handler,
        bad_request: Callable[[int, str], Response],
        max_head_bytes: int,
        max_headers: int,
    ) -> None:
        """`handler` runs in a task for each request."""
        self.handler = handler
        self._bad_request = bad_request
        self.max_head_bytes = max_head_bytes
        self.max_headers = max_headers
        self._server: asyncio.Server | None = None
        self.connections: set[ClientConnection] = set()
        self.closing = False

    @property
    def head_too_large(self) -> str:
        return f"the request line and headers are over {self.max_head_bytes} bytes"

    async def start(self, host: str, port: int, backlog: int) -> int:
        """Listen; the port listened on."""
        self._server = await asyncio.get_running_loop().create_server(
            lambda: ClientConnection(self), host, port, backlog=backlog, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, close idle connections, and give handlers `CLOSE_GRACE_S` to end."""
        self.closing = True  # each connection closes once its answer is sent
        if self._server is not None:
            self._server.close()
        busy = {}
        for connection in list(self.connections):
            if connection.exchange is None:
                connection.close()
            else:
                busy[connection.over()] = connection
        if busy:
            _done, late = await asyncio.wait(busy, timeout=CLOSE_GRACE_S)
            for over in late:
                busy[over].abort()
            tasks = [c.task for c in busy.values() if c.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, exchange: Exchange) -> None:
        """A request's handler; a failure in it answers 500 if nothing was sent yet, and the
        connection closes."""
        try:
            await self.handler(exchange)
        except ConnectionError:
            pass
        except Exception as error:
            request = exchange.request
            log.error("front door: %s %s failed", request.method, request.path, exc_info=error)
            exchange.close_after = True
            if not exchange.started:
                with contextlib.suppress(ConnectionError):
                    await exchange.respond(
                        self._bad_request(500, f"the front door failed: {error}")
                    )

    def refuse(self, transport: asyncio.Transport, status: int, why: str) -> None:
        response = self._bad_request(status, why)
        headers = [*response.headers, (b"content-length", str(len(response.body)).encode())]
        headers.append((b"connection", b"close"))
        transport.write(response_head(status, response.reason, headers) + response.body)
