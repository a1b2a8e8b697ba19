"""The front door's public side: HTTP/1.1 on asyncio streams, framed by h11.

One task per connection reads requests one after another (keep-alive) and runs the handler for
each in it. A handler still at work after `WATCH_AFTER_S` (a held request, an event stream, a
long call) has its connection watched from then on: a client that goes away cancels it, so
nothing stays held for it. (Watching every request from its start cost a task and two loop
turns each: about a sixth of the latency the door adds.) Until a request's body is read (it is
the handler's to read: a held request's is read only once it is forwarded), reading cannot
show the client leaving; the kernel is asked instead, every `HANGUP_POLL_S`, whether the client
hung up (Linux tells; elsewhere such a request is watched once its body is read). A request h11
cannot parse (or whose head is over the bound) gets the answer `bad_request` builds, and the
connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

import h11

from tray.frontdoor.sockets import HANGUP, hung_up

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]
READ = 64 * 1024
# A connection waiting for its next request (or for the rest of a request's head) is closed
# after this long, as most servers do.
IDLE_S = 75.0
# On close: how long handlers get to answer (held requests get their 503, streams end).
CLOSE_GRACE_S = 5.0
# A handler at work this long has its client watched (most requests are answered sooner).
WATCH_AFTER_S = 0.05
# How often a client whose request body is not read yet is looked for (`sockets.hung_up`).
HANGUP_POLL_S = 0.5


class ClientGone(ConnectionError):
    """The client closed its connection or stopped reading; nothing more reaches it."""


@dataclass(frozen=True)
class Reply:
    """A whole answer: status, headers and body."""

    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    reason: bytes = b""


class Request:
    """What the client asked, as h11 read it; the values the door looks at, decoded."""

    def __init__(self, event: h11.Request) -> None:
        self.method = event.method.decode("ascii")
        self.raw_path = event.target.decode("ascii")  # h11 lets only visible ASCII through
        path, _, self.query_string = self.raw_path.partition("?")
        self.path = unquote(path)
        self.headers: Headers = list(event.headers.raw_items())
        self._lower = {name.lower(): value for name, value in reversed(self.headers)}

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

    @property
    def content_length(self) -> int | None:
        value = self.header("content-length")
        return int(value) if value is not None else None  # h11 checked it is a number

    @property
    def body_exists(self) -> bool:
        return bool(self.content_length) or self.header("transfer-encoding") is not None


class Exchange:
    """One request and its answer: a `Reply` at once, or a response started and written in
    parts (a large body, an event stream), or a switch to another protocol (WebSocket)."""

    def __init__(self, conn: h11.Connection, wire: _Wire, request: Request) -> None:
        self.request = request
        self._conn = conn
        self._wire = wire
        self._writer = wire.writer
        self.started = False
        self.switched = False

    async def body(self) -> AsyncIterator[bytes]:
        """The request's body, as it arrives; `ClientGone` if the client breaks it off."""
        if self._conn.they_are_waiting_for_100_continue:
            self._send(h11.InformationalResponse(status_code=100, headers=[]))
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as error:
                raise ClientGone(f"the client broke off its body: {error}") from error
            if event is h11.NEED_DATA:
                self._conn.receive_data(await self._wire.read())
            elif isinstance(event, h11.Data):
                yield bytes(event.data)
            else:
                return

    @property
    def body_read(self) -> bool:
        return self._conn.their_state is not h11.SEND_BODY

    async def reply(self, reply: Reply) -> None:
        """The whole answer in one write: one segment, one wakeup for the client."""
        self.started = True
        self._send(*_whole(reply))
        await self._drain()

    async def start(self, status: int, headers: Headers, reason: bytes = b"") -> None:
        """Send the status and headers; with neither Content-Length nor Transfer-Encoding among
        them, the body is sent chunked (h11 adds the header)."""
        self.started = True
        reason = reason or _phrase(status)
        self._send(h11.Response(status_code=status, headers=headers, reason=reason))

    async def write(self, data: bytes) -> None:
        """Part of the body; `ClientGone` once the client is."""
        if data:
            self._send(h11.Data(data=data))
            await self._drain()

    async def end(self) -> None:
        self._send(h11.EndOfMessage())
        await self._drain()

    async def switch(
        self, headers: Headers
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
        """Answer 101 with `headers`; the connection is the caller's from now on (with the
        bytes the client sent after its request)."""
        self.started = self.switched = True
        self._conn.receive_data(await self._wire.settle())
        self._send(h11.InformationalResponse(status_code=101, headers=headers))
        data, _closed = self._conn.trailing_data
        return self._wire.reader, self._writer, bytes(data)

    def _send(self, *events: h11.Event) -> None:
        if self._writer.is_closing():
            raise ClientGone("the client went away")
        data = b"".join(self._conn.send(event) or b"" for event in events)
        if data:
            self._writer.write(data)

    async def _drain(self) -> None:
        try:
            await self._writer.drain()
        except ConnectionError as error:
            raise ClientGone(str(error)) from error


class _Wire:
    """A connection's two streams. Its next read may be started early, to see the client go
    away while its request is worked on; the next reader gets what that read got."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.watching: asyncio.Task[bytes] | None = None

    async def read(self) -> bytes:
        watching, self.watching = self.watching, None
        if watching is not None:
            return await watching
        return await self.reader.read(READ)

    def watch(self) -> asyncio.Task[bytes]:
        """The early read (started now, unless one still waits from an earlier request)."""
        if self.watching is None:
            self.watching = asyncio.ensure_future(self.reader.read(READ))
        return self.watching

    async def settle(self) -> bytes:
        """End the early read: what it got, if anything (b"" too if it was cut)."""
        watching, self.watching = self.watching, None
        if watching is None:
            return b""
        watching.cancel()
        await asyncio.wait({watching})
        if watching.cancelled() or watching.exception() is not None:
            return b""
        return watching.result()


class _Watch:
    """Cancels a connection's task if its client goes away while its handler still runs (not
    once the connection switched protocols: it is then the tunnel's to read). While the
    request's body is unread, by asking the kernel every `HANGUP_POLL_S`; then by reading."""

    def __init__(self, exchange: Exchange, wire: _Wire, task: asyncio.Task[None]) -> None:
        self._exchange = exchange
        self._wire = wire
        self._task = task
        self._running = True
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._look)

    def stop(self) -> None:
        self._running = False
        self._timer.cancel()

    def _look(self) -> None:
        if not self._running or self._exchange.switched:
            return
        if self._exchange.body_read:
            self._wire.watch().add_done_callback(self._read_done)
        elif self._wire.writer.is_closing() or hung_up(self._wire.writer.get_extra_info("socket")):
            self._gone()
        elif HANGUP:
            self._timer = asyncio.get_running_loop().call_later(HANGUP_POLL_S, self._look)

    def _read_done(self, read: asyncio.Task[bytes]) -> None:
        if self._running and _gone(read):
            self._gone()

    def _gone(self) -> None:
        self._task.cancel()  # what was held for it is let go; the connection closes


Handler = Callable[[Exchange], Coroutine[None, None, None]]


class Listener:
    """Accepts connections on `host:port` and runs `handler` for each request."""

    def __init__(
        self,
        handler: Handler,
        bad_request: Callable[[int, str], Reply],
        max_head_bytes: int,
        max_headers: int,
    ) -> None:
        self._handler = handler
        self._bad_request = bad_request
        self._max_head_bytes = max_head_bytes
        self._max_headers = max_headers
        self._server: asyncio.Server | None = None
        self._idle: set[asyncio.Task[None]] = set()  # connections between requests
        self._busy: set[asyncio.Task[None]] = set()  # connections with a request in hand
        self._closing = False

    @property
    def connections(self) -> int:
        return len(self._idle) + len(self._busy)

    async def start(self, host: str, port: int, backlog: int) -> int:
        """Listen; the port listened on."""
        self._server = await asyncio.start_server(
            self._connection, host, port, backlog=backlog, reuse_address=True, limit=READ
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, close idle connections, and give handlers `CLOSE_GRACE_S` to end."""
        self._closing = True  # each connection closes once its answer is sent
        if self._server is not None:
            self._server.close()
        for task in list(self._idle):
            task.cancel()
        busy = list(self._busy)
        if busy:
            _done, late = await asyncio.wait(busy, timeout=CLOSE_GRACE_S)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._idle, *self._busy, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._idle.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_head_bytes)
        wire = _Wire(reader, writer)
        try:
            while await self._one_request(conn, wire, task):
                conn.start_next_cycle()
        except (ConnectionError, TimeoutError):
            pass  # the client went away, or said nothing for IDLE_S
        except asyncio.CancelledError:
            # Its end: the listener closing, a rotation, or its client gone mid-request. Not
            # raised on: asyncio (3.11) logs a connection's task that ends cancelled as an error.
            pass
        except Exception:
            log.exception("front door: a connection failed")  # that connection only
        finally:
            self._idle.discard(task)
            self._busy.discard(task)
            await wire.settle()
            writer.close()

    async def _one_request(
        self, conn: h11.Connection, wire: _Wire, task: asyncio.Task[None]
    ) -> bool:
        """Read one request and answer it; whether the connection can take another."""
        try:
            async with asyncio.timeout(IDLE_S):
                event = await _next_event(conn, wire)
        except h11.RemoteProtocolError as error:
            await self._refuse(conn, wire.writer, error.error_status_hint, self._why(error))
            return False
        if not isinstance(event, h11.Request):
            return False  # the client closed the connection
        self._idle.discard(task)
        self._busy.add(task)
        too_large = self._too_large(event)
        if too_large is not None:
            await self._refuse(conn, wire.writer, 431, too_large)
            return False
        exchange = Exchange(conn, wire, Request(event))
        if not exchange.request.body_exists:
            conn.next_event()  # its EndOfMessage: h11 needs no data for it
        await self._run(exchange, wire, task)
        self._busy.discard(task)
        self._idle.add(task)
        return (
            not self._closing
            and not exchange.switched
            and conn.our_state is conn.their_state is h11.DONE
        )

    async def _run(self, exchange: Exchange, wire: _Wire, task: asyncio.Task[None]) -> None:
        """The handler, in the connection's task, its client watched once it has worked
        `WATCH_AFTER_S`: a client that goes away cancels it."""
        watch = _Watch(exchange, wire, task)
        try:
            await self._handler(exchange)
        except ConnectionError:
            pass
        except Exception as error:
            request = exchange.request
            log.error("front door: %s %s failed", request.method, request.path, exc_info=error)
            if not exchange.started:
                with contextlib.suppress(ConnectionError, h11.LocalProtocolError):
                    await exchange.reply(self._bad_request(500, f"the front door failed: {error}"))
        finally:
            watch.stop()

    def _why(self, error: h11.RemoteProtocolError) -> str:
        if error.error_status_hint == 431:
            return self._head_too_large
        return f"the request is not valid HTTP/1.1 ({error})"

    @property
    def _head_too_large(self) -> str:
        return f"the request line and headers are over {self._max_head_bytes} bytes"

    def _too_large(self, request: h11.Request) -> str | None:
        """Why the request's head is over a bound, or None. (h11 bounds only a head that
        arrives in parts.)"""
        headers = request.headers.raw_items()
        if len(headers) > self._max_headers:
            return f"the request has over {self._max_headers} header fields"
        size = len(request.method) + len(request.target) + sum(len(n) + len(v) for n, v in headers)
        if size > self._max_head_bytes:
            return self._head_too_large
        return None

    async def _refuse(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int, why: str
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        reply = self._bad_request(status, why)
        reply = Reply(status, [*reply.headers, (b"connection", b"close")], reply.body)
        with contextlib.suppress(ConnectionError, h11.LocalProtocolError):
            writer.write(b"".join(conn.send(event) or b"" for event in _whole(reply)))
            await writer.drain()


async def _next_event(conn: h11.Connection, wire: _Wire) -> h11.Event:
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Event):
            return event
        assert event is h11.NEED_DATA  # PAUSED comes only after a switch, never read again
        conn.receive_data(await wire.read())


def _gone(read: asyncio.Task[bytes]) -> bool:
    """Whether an early read found the client gone (it closed, or its connection broke); not
    if it was cut short (a switch to WebSocket takes the connection)."""
    if read.cancelled():
        return False
    return read.exception() is not None or not read.result()


def _whole(reply: Reply) -> list[h11.Event]:
    """The events of a whole answer: its head (with the body's length) and body."""
    headers = [*reply.headers, (b"content-length", str(len(reply.body)).encode())]
    reason = reply.reason or _phrase(reply.status)
    head = h11.Response(status_code=reply.status, headers=headers, reason=reason)
    body = [h11.Data(data=reply.body)] if reply.body else []
    return [head, *body, h11.EndOfMessage()]


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""
