"""A small HTTP server on loopback for what the real one cannot show on demand: garbage,
errors, silence, slow or refused event streams. Standard library only: fake `opencode`
binaries run it as a plain script.

`routes` maps a path (any method) or "METHOD path" to a reply: a coroutine that writes the
whole answer for a `Request`. The connection closes after each answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from tests.support.sse import frame, global_event, text

VERSION = "1.18.33"
CONNECTED = text(global_event("server.connected"))
HEARTBEAT = text(global_event("server.heartbeat"))
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes


Reply = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def head(status: int, content_type: str, extra: str = "") -> bytes:
    """A response's head; `extra`: more header lines, each ending in CRLF."""
    reason = REASONS.get(status, "Other")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}"]
    return ("\r\n".join([*lines, "Connection: close"]) + "\r\n" + extra + "\r\n").encode()


def plain(status: int, content_type: str = "text/plain", body: str = "") -> Reply:
    data = body.encode()

    async def reply(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(status, content_type, f"Content-Length: {len(data)}\r\n") + data)
        await writer.drain()

    return reply


def event_stream(
    *lines: str, first_byte_after_s: float = 0.0, beat_every_s: float | None = None
) -> Reply:
    """An event stream of `lines` (each an event's text, or garbage); then a heartbeat every
    `beat_every_s`, or the end of the body."""

    async def reply(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(first_byte_after_s)
        writer.write(head(200, "text/event-stream"))
        for line in lines:
            writer.write(frame(line))
            await writer.drain()
        while beat_every_s is not None:
            await asyncio.sleep(beat_every_s)
            writer.write(frame(HEARTBEAT))
            await writer.drain()

    return reply


async def silent(request: Request, writer: asyncio.StreamWriter) -> None:
    """Accept the request and never answer, like a frozen server."""
    await asyncio.Event().wait()


HEALTHY = plain(200, "application/json", json.dumps({"healthy": True, "version": VERSION}))


class FakeServer:
    """Serves `routes` on 127.0.0.1 (404 for anything else); `requests`: every one it got."""

    def __init__(self, routes: Mapping[str, Reply], port: int = 0) -> None:
        self.routes = routes
        self.port = port
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._replies: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # End the replies (streams that never end), not the handlers: asyncio's own callback
        # would log a cancelled handler as an error.
        for reply in self._replies:
            reply.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers)
        await self._server.wait_closed()

    def reply_to(self, request: Request) -> Reply:
        by_method = self.routes.get(f"{request.method} {request.path}")
        return by_method or self.routes.get(request.path, plain(404))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            request = await read_request(reader)
            self.requests.append(request)
            reply = asyncio.ensure_future(_until_hung_up(self.reply_to(request), request, writer))
            self._replies.add(reply)
            await asyncio.wait({reply})
            self._replies.discard(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._handlers.discard(handler)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> Request:
    """One request: its head, and its body when it says how long that is."""
    head_bytes = await reader.readuntil(b"\r\n\r\n")
    request_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    method, target = request_line.split(" ")[:2]
    url = urlsplit(target)
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines if line)
    }
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, url.path, dict(parse_qsl(url.query)), headers, body)


async def _until_hung_up(reply: Reply, request: Request, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        await reply(request, writer)


async def serve_as_opencode(routes: Mapping[str, Reply], port: int) -> None:
    """Serve `routes` for good, saying so as `opencode serve` does (a fake binary's main)."""
    async with FakeServer(routes, port) as server:
        print(f"opencode server listening on {server.url}", flush=True)
        await asyncio.Event().wait()
