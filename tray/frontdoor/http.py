"""The HTTP/1.1 plumbing both sides of the front door share (the listener, clients' side; the
upstream client, the server's side): flow control both ways, the body buffer, chunk framing,
and the heads the door writes.

llhttp (httptools) parses every head the door reads, on both sides, and refuses any with a
CR, LF or NUL where it does not belong; the fields written here are those it parsed, or the
door's own (constants, numbers, and what the app made: a sign-in link's target, a cookie).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus

Headers = list[tuple[bytes, bytes]]
READ = 64 * 1024
# A body waiting for its reader past this many bytes pauses reading its sender.
BUFFER_BYTES = 256 * 1024
LAST_CHUNK = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """`data` framed as one chunk of a chunked body."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def request_head(method: bytes, target: bytes, host: bytes, headers: Headers) -> bytes:
    lines = [b"%b %b HTTP/1.1\r\nhost: %b\r\n" % (method, target, host)]
    lines += [b"%b: %b\r\n" % field for field in headers]
    lines.append(b"\r\n")
    return b"".join(lines)


def response_head(status: int, reason: bytes, headers: Headers) -> bytes:
    lines = [b"HTTP/1.1 %d %b\r\n" % (status, reason or phrase(status))]
    lines += [b"%b: %b\r\n" % field for field in headers]
    lines.append(b"\r\n")
    return b"".join(lines)


def phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class FlowControl(asyncio.Protocol):
    """A connection's flow control both ways. Writes: what is written waits in the transport
    while the peer reads slowly; past the transport's high-water mark, `writable()` waits until
    it can take more. Reads: `pause_reading`/`resume_reading` stop and restart reading the
    peer (a body buffered past `BUFFER_BYTES`, a request waiting its turn)."""

    transport: asyncio.Transport | None = None
    reading_paused = False
    _can_write: asyncio.Future[None] | None = None

    def pause_writing(self) -> None:
        self._can_write = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._can_write is not None and not self._can_write.done():
            self._can_write.set_result(None)
        self._can_write = None

    async def writable(self) -> None:
        """Once the transport takes more (at once if it does; also once the connection is
        lost: the caller then finds it gone)."""
        if self._can_write is not None:
            await asyncio.shield(self._can_write)

    def connection_lost(self, exc: Exception | None) -> None:
        self.resume_writing()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self) -> bool:
        """Stop reading the peer; whether it was read until now."""
        if self.reading_paused or self.transport is None or self.transport.is_closing():
            return False
        self.reading_paused = True
        self.transport.pause_reading()
        return True

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.transport.is_closing():
            self.reading_paused = False
            self.transport.resume_reading()


class BodyBuffer:
    """A body as it arrives, kept until its reader takes it. Past `BUFFER_BYTES` unread,
    `full` is called (to stop reading its sender); `drained` is called at each take."""

    def __init__(self, full: Callable[[], object], drained: Callable[[], object]) -> None:
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.arrived = False  # any of the body
        self.complete = False
        self.failure: Exception | None = None  # why the rest of the body will not come
        self._full = full
        self._drained = drained
        self._changed: asyncio.Future[None] | None = None

    def add(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        self.arrived = True
        if self.buffered > BUFFER_BYTES:
            self._full()
        self.wake()

    def finish(self) -> None:
        self.complete = True
        self.wake()

    def fail(self, failure: Exception) -> None:
        """The rest will not come (unless it all came already)."""
        if not self.complete and self.failure is None:
            self.failure = failure
        self.wake()

    def take(self) -> bytes:
        """The bytes that arrived (b"" if none did)."""
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        self._drained()
        return data

    async def read_some(self, timeout_s: float | None = None) -> bytes:
        """The bytes that arrived (waiting for some if none did); b"" at the body's end; its
        `failure` if it breaks off; TimeoutError after `timeout_s` with nothing new."""
        while not self.chunks and not self.complete:
            if self.failure is not None:
                raise self.failure
            await self.changed(timeout_s)
        return self.take()

    async def changed(self, timeout_s: float | None = None) -> None:
        """Until something arrives, the body ends or breaks off, or `timeout_s` passes."""
        self._changed = asyncio.get_running_loop().create_future()
        try:
            if timeout_s is None:
                await self._changed
            else:
                async with asyncio.timeout(timeout_s):
                    await self._changed
        finally:
            self._changed = None

    def wake(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
