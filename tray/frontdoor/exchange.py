"""One request to the front door and its response, as the listener's handler sees them: what the
client asked (`Request`, its body as it arrives), and the ways to answer it (a whole `Response`,
a response written in parts, or a switch to another protocol)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from tray.frontdoor.http import LAST_CHUNK, BodyBuffer, Headers, chunk, response_head

if TYPE_CHECKING:
    from tray.frontdoor.listener import ClientConnection

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


class Message(BodyBuffer):
    """A request as it arrives: its head, then its body, kept until the handler reads it."""

    def __init__(
        self, request: Request, full: Callable[[], object], drained: Callable[[], object]
    ) -> None:
        super().__init__(full, drained)
        self.request = request
        self.upgrade = False


class Exchange:
    """One request and its answer: a `Response` at once, or a response started and written in
    parts (a large body, an event stream), or a switch to another protocol (WebSocket)."""

    def __init__(self, connection: ClientConnection, message: Message) -> None:
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
