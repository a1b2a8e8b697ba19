"""A loopback TCP proxy between the engine and the real server, that breaks things on request.

    async with ChaosProxy(server_port) as proxy:      # the engine's client_url = proxy.url
        proxy.cut_stream(Cut.RESET)                    # at the next event on /global/event
        proxy.cut_stream(Cut.RESET, held=True)         # ... held back until `release_cut()`
        proxy.fail({"/session/status": 2})             # the next 2 such requests get a 500
        proxy.inject(b"data: not JSON\\n\\n")           # raw SSE text, between two events

It reads the HTTP it carries: each request head (to know a connection's path and to answer
some requests itself), and on the event stream the chunked framing of the response, so that a
cut lands in the middle of an event and an injection or a clean end between two events.
Everything else passes byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any

EVENT_PATH = "/global/event"
HOST = "127.0.0.1"
READ = 64 * 1024


class Cut(Enum):
    RESET = "reset"  # half an event, then a TCP reset
    BLACKHOLE = "blackhole"  # half an event, then silence with the connection left open
    CLOSE = "close"  # the chunked body ends cleanly between two events


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream twin."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    path: str = ""  # of the request carried last


class ChaosProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut: Cut | None = None
        self._cut_done = asyncio.Event()
        self._cut_released = asyncio.Event()
        self._injections: list[bytes] = []
        self._failing: dict[str, int] = {}
        self._fail_status = 500

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def __aenter__(self) -> ChaosProxy:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for link in list(self._links):
            _abort(link.client)
            _abort(link.upstream)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # -- what tests ask for ----------------------------------------------------------------------

    def cut_stream(self, how: Cut, *, held: bool = False) -> None:
        """Break the event stream at its next event (await `cut_done` to know it happened).
        `held`: that event (and the stream with it) waits for `release_cut`, so that a test can
        finish what made the server send it before the engine meets the fault."""
        self._cut = how
        self._cut_done.clear()
        if held:
            self._cut_released.clear()
        else:
            self._cut_released.set()

    def release_cut(self) -> None:
        self._cut_released.set()

    async def cut_done(self) -> None:
        await self._cut_done.wait()

    def inject(self, *texts: bytes) -> None:
        """Send `texts` on the event stream, each in its own chunk, before its next event."""
        self._injections.extend(texts)

    def fail(self, times: dict[str, int], status: int = 500) -> None:
        """Answer the next `times[path]` requests to each path with `status` instead of the
        server (and close that connection)."""
        self._failing = dict(times)
        self._fail_status = status

    def stream_links(self) -> int:
        """Event-stream connections open now (one once the engine is connected)."""
        return sum(1 for link in self._links if link.path == EVENT_PATH)

    # -- carrying ---------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.upstream_port)
        except OSError:
            _abort(writer)
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

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _requests(self, link: _Link, reader: asyncio.StreamReader) -> None:
        """Client to server, one request at a time (the client does not pipeline)."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                body = await reader.readexactly(length) if length else b""
                path = head.split(b" ", 2)[1].split(b"?")[0].decode()
                if self._failing.get(path, 0) > 0:
                    self._failing[path] -= 1
                    link.client.write(_status_line(self._fail_status))
                    await link.client.drain()
                    return
                link.path = path
                link.upstream.write(head + body)
                await link.upstream.drain()

    async def _responses(self, link: _Link, reader: asyncio.StreamReader) -> None:
        """Server to client: raw bytes, except the event stream, read chunk by chunk.

        A kept-alive connection may carry the event stream after other requests: the client
        sends a request only once it has the whole previous answer, so what arrives after the
        event request was sent is that request's answer."""
        source = _Source(reader)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while data := await source.some():
                if link.path == EVENT_PATH:
                    source.unread(data)
                    await self._event_stream(link, source)
                    return
                link.client.write(data)
                await link.client.drain()

    async def _event_stream(self, link: _Link, source: _Source) -> None:
        head = await source.until(b"\r\n\r\n")
        link.client.write(head)
        if b"transfer-encoding: chunked" not in head.lower():
            while data := await source.some():
                link.client.write(data)
                await link.client.drain()
            return
        while True:
            size_line = await source.until(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            chunk = size_line + await source.exactly(size + 2)
            for text in self._injections:
                link.client.write(b"%x\r\n%s\r\n" % (len(text), text))
            self._injections.clear()
            if size == 0 or self._cut is None:
                link.client.write(chunk)
                await link.client.drain()
                if size == 0:
                    return
                continue
            how, self._cut = self._cut, None
            await self._cut_released.wait()
            await self._break(link, how, chunk)
            return

    async def _break(self, link: _Link, how: Cut, chunk: bytes) -> None:
        if how is Cut.CLOSE:
            link.client.write(b"0\r\n\r\n")
            await link.client.drain()
            link.client.close()
        else:
            link.client.write(chunk[: len(chunk) // 2])
            await link.client.drain()
        self._cut_done.set()
        if how is Cut.RESET:
            _abort(link.client)
        elif how is Cut.BLACKHOLE:
            await asyncio.Event().wait()  # until the client gives up on the connection


class _Source:
    """A stream reader that can take back what was read."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buffer = bytearray()

    def unread(self, data: bytes) -> None:
        self._buffer[:0] = data

    async def some(self) -> bytes:
        """What is buffered, else the next bytes; b"" at the end."""
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        return await self._reader.read(READ)

    async def until(self, separator: bytes) -> bytes:
        while (at := self._buffer.find(separator)) == -1:
            await self._more()
        return self._take(at + len(separator))

    async def exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._more()
        return self._take(size)

    async def _more(self) -> None:
        data = await self._reader.read(READ)
        if not data:
            raise asyncio.IncompleteReadError(bytes(self._buffer), None)
        self._buffer += data

    def _take(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
