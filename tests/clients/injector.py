"""A loopback proxy in front of the real server that logs every request and can put an event of
its choosing into the clients' open event streams at once.

    async with InjectingProxy(server_port) as proxy:       # point the client at proxy.url
        await proxy.inject({"payload": {"type": "server.connected", "properties": {}}})
        proxy.requests_since(mark)                          # what the client asked for since

It exists to find out how the official clients react to an event the server sends only at
certain moments (`server.connected` after a reconnect, for one). Like tests/chaos/proxy.py it
reads only request heads and, on event streams, the chunked framing of the response, so an
injected event lands between two of the server's events; everything else passes byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from tests.support.sse import frame

HOST = "127.0.0.1"
READ = 64 * 1024
STREAM_PATHS = ("/event", "/global/event", "/api/event")


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic()
    method: str
    target: str  # path and query

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    path: str = ""  # of the request carried last
    streaming: bool = False  # the response being carried is an event stream
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class InjectingProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # While set, every request other than an event stream gets this (status, JSON body)
        # from the proxy instead of the server's answer.
        self.answer_instead: tuple[int, dict[str, Any]] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def __aenter__(self) -> InjectingProxy:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for link in list(self._links):
            link.client.transport.abort()
            link.upstream.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def streams(self, path: str = "") -> list[str]:
        """The paths of the event streams open now (those starting with `path`)."""
        return [link.path for link in self._links if link.streaming and link.path.startswith(path)]

    def requests_since(self, mark: float) -> list[Request]:
        return [request for request in self.requests if request.at >= mark]

    async def inject(self, data: dict[str, Any], path: str = "/global/event") -> int:
        """Send `data: <json>` on every open stream of `path`; how many streams got it."""
        text = frame(data)
        chunk = b"%x\r\n%s\r\n" % (len(text), text)
        sent = 0
        for link in list(self._links):
            if link.streaming and link.path == path:
                async with link.lock:
                    link.client.write(chunk)
                    with contextlib.suppress(ConnectionError):
                        await link.client.drain()
                sent += 1
        return sent

    async def end_streams(self, path: str = "") -> int:
        """End every open stream of a path starting with `path` cleanly, between two events (the
        chunked body's last chunk), and close its connection; how many it ended."""
        ended = 0
        for link in list(self._links):
            if link.streaming and link.path.startswith(path):
                async with link.lock:
                    link.client.write(b"0\r\n\r\n")
                    with contextlib.suppress(ConnectionError):
                        await link.client.drain()
                    link.client.close()
                    link.upstream.close()
                ended += 1
        return ended

    # -- carrying ---------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        tasks = [
            self._spawn(self._requests(link, reader)),
            self._spawn(self._responses(link, up_reader)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        self._links.discard(link)
        for side in (link.client, link.upstream):
            side.close()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _requests(self, link: _Link, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, target = head.split(b" ", 2)[:2]
                request = Request(time.monotonic(), method.decode(), target.decode())
                self.requests.append(request)
                length = _content_length(head)
                if self.answer_instead and request.path not in STREAM_PATHS:
                    if length:
                        await reader.readexactly(length)
                    link.client.write(_response(*self.answer_instead))
                    await link.client.drain()
                    continue
                link.path = request.path
                link.upstream.write(head)
                if b"upgrade:" in head.lower():  # a WebSocket: bytes both ways from here on
                    while data := await reader.read(READ):
                        link.upstream.write(data)
                    return
                if length:
                    link.upstream.write(await reader.readexactly(length))
                await link.upstream.drain()

    async def _responses(self, link: _Link, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while data := await reader.read(READ):
                if link.path in STREAM_PATHS and data.startswith(b"HTTP/1.1 200"):
                    await self._event_stream(link, reader, data)
                    continue
                link.client.write(data)
                await link.client.drain()

    async def _event_stream(self, link: _Link, reader: asyncio.StreamReader, first: bytes) -> None:
        head, _, rest = first.partition(b"\r\n\r\n")
        buffered = bytearray(rest)
        link.client.write(head + b"\r\n\r\n")
        link.streaming = b"transfer-encoding: chunked" in head.lower()
        if not link.streaming:
            link.client.write(bytes(buffered))
            return

        async def until(marker: bytes) -> bytes:
            while (end := buffered.find(marker)) < 0:
                more = await reader.read(READ)
                if not more:
                    raise asyncio.IncompleteReadError(bytes(buffered), None)
                buffered.extend(more)
            taken = bytes(buffered[: end + len(marker)])
            del buffered[: end + len(marker)]
            return taken

        async def exactly(size: int) -> bytes:
            while len(buffered) < size:
                more = await reader.read(READ)
                if not more:
                    raise asyncio.IncompleteReadError(bytes(buffered), size)
                buffered.extend(more)
            taken = bytes(buffered[:size])
            del buffered[:size]
            return taken

        try:
            while True:
                size_line = await until(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                chunk = size_line + await exactly(size + 2)
                async with link.lock:
                    link.client.write(chunk)
                    await link.client.drain()
                if size == 0:
                    return
        finally:
            link.streaming = False


def _response(status: int, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} Proxy\r\ncontent-type: application/json\r\n"
    return head.encode() + f"content-length: {len(data)}\r\n\r\n".encode() + data


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0
