"""The server's global event stream (SSE) turned into supervisor events.

Garbage never ends the stream by itself: a data line that is not JSON, an event of an unknown
shape or an oversized one is logged and skipped, and only real events count as signs of life,
so a stream that sends nothing but garbage is caught by the heartbeat watchdog.

The body is split into events here, not by httpx-sse's reader: that one buffers a line until
its end, however long, so a server that sends an endless line would take all our memory. Here
an event bigger than `MAX_EVENT_BYTES` is dropped while it arrives and reported as `None`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable

import httpx
from httpx_sse import aconnect_sse

from tray.core import causes
from tray.core.messages import Event, StreamClosed, StreamEvent, StreamOpened
from tray.engine.api import error_cause, status_cause
from tray.generations.events import Connected, ServerEvent, StreamFormat
from tray.generations.generation import Generation
from tray.generations.v1 import V1

MAX_EVENT_BYTES = 4 * 1024 * 1024
_NO_READ_TIMEOUT = httpx.Timeout(5.0, read=None)

log = logging.getLogger(__name__)


def decode(data: str, gen: Generation = V1) -> ServerEvent | None:
    """The core event in one data line of the app's stream, or None if it is not an event."""
    decoded = gen.decode(StreamFormat.GLOBAL, data)
    return None if decoded is None else decoded[0]


class _Event:
    """The data lines of the event being read, up to `limit` bytes in all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.started = False  # a data line was seen
        self.oversized = False

    def field(self, line: bytes) -> None:
        """One non-blank line: a data line is kept; a comment and other fields are ignored."""
        name, _, value = line.partition(b":")
        if name == b"data":
            self.add(value[1:] if value.startswith(b" ") else value)

    def add(self, value: bytes | bytearray) -> None:
        """Keep a data line, or drop the event once it is over the limit."""
        if self.started:
            self.data += b"\n"
        self.started = True
        if self.oversized or len(self.data) + len(value) > self.limit:
            self.oversized = True
            self.data.clear()
        else:
            self.data += value

    def finish(self) -> str | None:
        """The blank line that ends the event: its data, or None if it was oversized."""
        data = None if self.oversized else self.data.decode("utf-8", "replace")
        self.data = bytearray()
        self.started = self.oversized = False
        return data


async def event_data(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[str | None]:
    """The data of each event in an SSE body, or None for an event bigger than `limit` bytes.

    Lines end with LF or CRLF (a lone CR, allowed by the SSE spec, is not used by opencode).
    At most about `limit` bytes plus one chunk are held, whatever the server sends.
    """
    event = _Event(limit)
    pending = bytearray()  # the line being read
    in_long_line = False  # dropping the rest of a line longer than `limit`
    async for chunk in chunks:
        start = 0
        if in_long_line:
            end = chunk.find(b"\n")
            if end == -1:
                continue
            in_long_line = False
            start = end + 1
        pending += memoryview(chunk)[start:]
        start = 0
        while (end := pending.find(b"\n", start)) != -1:
            line = bytes(pending[start:end]).removesuffix(b"\r")
            start = end + 1
            if line:
                event.field(line)
            elif event.started:
                yield event.finish()
        del pending[:start]
        if len(pending) > limit:
            event.add(pending)  # marks the event oversized
            pending.clear()
            in_long_line = True


async def read_events(
    client: httpx.AsyncClient,
    gen: int,
    emit: Callable[[Event], None],
    server: Generation = V1,
) -> None:
    """Read the stream of a server that speaks `server` until it ends, emitting events; the
    last one is always `StreamClosed`.

    Cancelling the task (the supervisor closed the stream) emits nothing.
    """
    url = str(client.base_url)
    try:
        path = server.stream_path
        async with aconnect_sse(client, "GET", path, timeout=_NO_READ_TIMEOUT) as source:
            response = source.response
            cause = status_cause(response)
            if cause is None:
                kind = response.headers.get("content-type", "").partition(";")[0]
                if "text/event-stream" not in kind:  # the web app's HTML, say
                    cause = causes.stream_garbage(f"not an event stream (Content-Type {kind!r})")
            if cause is not None:
                emit(StreamClosed(gen, cause))
                return
            await _emit_events(response, gen, emit, server)
        emit(StreamClosed(gen, causes.stream_closed()))
    except httpx.HTTPError as error:
        emit(StreamClosed(gen, error_cause(error, url, causes.stream_broken)))


async def _emit_events(
    response: httpx.Response, gen: int, emit: Callable[[Event], None], server: Generation
) -> None:
    """Each event of the body as the core's event; garbage logged and skipped."""
    skipped = 0
    async for data in event_data(response.aiter_bytes(), MAX_EVENT_BYTES):
        event = None if data is None else decode(data, server)
        if event is None:
            skipped += 1
            if skipped <= 3 or skipped % 1000 == 0:
                shown = "an event over the size limit" if data is None else data
                log.warning(
                    "skipping garbage on the event stream (%d so far): %.120r", skipped, shown
                )
        elif isinstance(event, Connected):
            emit(StreamOpened(gen))
        else:
            emit(StreamEvent(gen, event))
