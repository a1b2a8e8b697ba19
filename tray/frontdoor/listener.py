"""The front door's public side: HTTP/1.1 on asyncio protocols, parsed by llhttp (httptools).

Each connection is a protocol that feeds what arrives to llhttp, and answers its requests one
at a time (keep-alive; a pipelined request waits its turn, and the connection is not read
meanwhile), each by its handler run in a task of its own. A request's body arrives into a
buffer the handler reads; past `BUFFER_BYTES` the connection is not read until the handler
catches up.

A client that goes away cancels its request's handler, so nothing stays held for it: at once
if its connection breaks; if it closes its side (which a client that gives up does, and one
that only half-closes looks the same), once the handler has worked `watch_after_s`. While the
connection is not read, the kernel is asked every `hangup_poll_s` whether the client hung up
(Linux tells; elsewhere it is seen once reading resumes). A request llhttp cannot parse, or
whose head is over the bounds, gets the answer `bad_request` builds, and the connection closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

import httptools

from tray.frontdoor.config import ListenerTimings
from tray.frontdoor.exchange import ClientGone, Exchange, Handler, Message, Request, Response
from tray.frontdoor.http import READ, FlowControl, Headers, response_head
from tray.frontdoor.sockets import HANGUP, hung_up

log = logging.getLogger(__name__)


class _Refused(Exception):
    """A request head over a bound (the status and why are kept by the connection)."""


class ClientConnection(FlowControl):
    """One client's connection: llhttp's callbacks, and the task answering its request."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._timings = listener.timings
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[Message] = deque()  # parsed requests, the one answered first
        self._parsing: Message | None = None  # the request whose body is arriving
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

    async def drain(self) -> None:
        await self.writable()
        if self.gone:
            raise ClientGone("the client went away")

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
        later = self._started_at + self._timings.watch_after_s - loop.time()
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
        message = Message(request, self.pause_reading, self.caught_up)
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
        """The request's handler; a failure in it answers 500 if nothing was sent yet, and the
        connection closes."""
        try:
            await self._listener.handler(exchange)
        except ConnectionError:
            pass
        except Exception as error:
            request = exchange.request
            log.error("front door: %s %s failed", request.method, request.path, exc_info=error)
            exchange.close_after = True
            if not exchange.started:
                with contextlib.suppress(ConnectionError):
                    await exchange.respond(self._listener.failure(error))
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
            self._look_later()
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
            self._look_later()

    def _look_later(self) -> None:
        poll_s = self._timings.hangup_poll_s
        self._hangup = asyncio.get_running_loop().call_later(poll_s, self._look)

    def _start_idle(self) -> None:
        """From now, the connection waits for a request. (One timer, moved on only when it
        is due: arming one for each request cost more than the rest of the listener.)"""
        loop = asyncio.get_running_loop()
        self._idle_since = loop.time()
        if self._idle is None:
            self._idle = loop.call_later(self._timings.idle_s, self._idle_due)

    def _idle_due(self) -> None:
        self._idle = None
        if self.exchange is not None or self._queue:
            return  # at work; `_start_idle` arms it again
        waited = asyncio.get_running_loop().time() - self._idle_since
        idle_s = self._timings.idle_s
        if waited >= idle_s:
            self.close()
        else:
            self._idle = asyncio.get_running_loop().call_later(idle_s - waited, self._idle_due)

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
        timings: ListenerTimings,
    ) -> None:
        """`handler` runs in a task for each request."""
        self.handler = handler
        self.timings = timings
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
        """Stop listening, close idle connections, and give handlers `close_grace_s` to end."""
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
            _done, late = await asyncio.wait(busy, timeout=self.timings.close_grace_s)
            for over in late:
                busy[over].abort()
            tasks = [c.task for c in busy.values() if c.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

    def failure(self, error: Exception) -> Response:
        return self._bad_request(500, f"the front door failed: {error}")

    def refuse(self, transport: asyncio.Transport, status: int, why: str) -> None:
        response = self._bad_request(status, why)
        headers = [*response.headers, (b"content-length", str(len(response.body)).encode())]
        headers.append((b"connection", b"close"))
        transport.write(response_head(status, response.reason, headers) + response.body)
