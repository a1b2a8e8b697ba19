"""The server's global event stream (SSE) turned into supervisor events.

Garbage never ends the stream by itself: a data line that is not JSON, an event of an unknown
shape or an oversized one is logged and skipped, and only real events count as signs of life,
so a stream that sends nothing but garbage is caught by the heartbeat watchdog.

The body is split into events by `tray.core.sse.EventSplitter` (as the front door's is), not by
httpx-sse's reader: that one buffers a line until its end, however long, so a server that sends
an endless line would take all our memory. Here an event bigger than `MAX_EVENT_BYTES` is
dropped while it arrives and reported as `None`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable

import httpx
from httpx_sse import aconnect_sse

from tray.core import causes
from tray.core.messages import Event, StreamClosed, StreamEvent, StreamOpened
from tray.core.sse import EventSplitter
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


async def event_data(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[str | None]:
    """The data of each event in an SSE body, or None for an event bigger than `limit` bytes
    (given in pieces by the splitter: dropped as they arrive). Events without data (comments)
    give nothing."""
    splitter = EventSplitter(limit)
    dropping = False  # inside an oversized event
    async for chunk in chunks:
        block = splitter.feed(chunk)
        if dropping and b"\n\n" not in block:  # a piece of the oversized event, or nothing
            continue
        *whole, rest = block.split(b"\n\n")
        for raw in whole:
            data = None if dropping else _data(raw)
            if dropping or (data is not None and len(data) > limit):
                yield None
            elif data is not None:
                yield data.decode("utf-8", "replace")
            dropping = False
        dropping = dropping or bool(rest)


def _data(raw: bytes) -> bytes | None:
    """The data of one event as the SSE spec joins it (its data lines, one space after the
    colon dropped, joined by LF); None without a data line."""
    if raw.startswith(b"data: ") and b"\n" not in raw:  # the usual event: one data line
        return raw[6:]
    values = [
        value[1:] if value.startswith(b" ") else value
        for name, _, value in (line.partition(b":") for line in raw.split(b"\n"))
        if name == b"data"
    ]
    return b"\n".join(values) if values else None


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
