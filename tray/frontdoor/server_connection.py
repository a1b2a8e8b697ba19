"""One connection from the front door to the server, and the response read on it: HTTP/1.1 on
an asyncio protocol, parsed by llhttp (httptools)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httptools

from tray.frontdoor.http import BodyBuffer, FlowControl, Headers
from tray.frontdoor.sockets import readable

Address = tuple[str, int]


class UpstreamError(Exception):
    """A request to the server failed; `connected`: whether it reached the server at all."""

    def __init__(self, text: str, connected: bool) -> None:
        super().__init__(text)
        self.connected = connected


class _OutOfTurn(Exception):
    """The server sent more than the answer to what it was asked."""


class ServerResponse(BodyBuffer):
    """The server's response: status and headers once they are in, the body as the caller
    reads it (what arrived is kept until read; past `BUFFER_BYTES` the server is read no more)."""

    def __init__(
        self,
        connection: ServerConnection,
        head_only: bool,
        done: Callable[[ServerConnection, bool], None],
    ) -> None:
        """`done` is told when the response is done with, and whether its connection can be
        used again."""
        super().__init__(self._pause, self._resume)
        self.status = 0
        self.reason = b""
        self.headers: Headers = []
        self.content_length: int | None = None
        self.head_only = head_only  # the response to a HEAD: no body, whatever its length says
        self._done = done
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
            self._done(connection, self.complete and not self.chunks)

    def close(self) -> None:
        """Cut the response off (a stream from a server that was replaced)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._done(connection, False)


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

    async def drain(self) -> None:
        await self.writable()
        if self.closed:
            raise ConnectionResetError("the server closed the connection")

    def close(self) -> None:
        self.closed = True
        super().close()

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
