"""The server's global event stream (SSE) turned into supervisor events.

Garbage never ends the stream by itself: a data line that is not JSON, an event of an unknown
shape or an oversized one is logged and skipped, and only real events count as signs of life,
so a stream that sends nothing but garbage is caught by the heartbeat watchdog.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from tray.core import causes
from tray.core.messages import Event, StreamClosed, StreamEvent, StreamOpened
from tray.engine.api import error_cause, status_cause

PATH = "/global/event"
MAX_EVENT_CHARS = 4 * 1024 * 1024
_NO_READ_TIMEOUT = httpx.Timeout(5.0, read=None)

log = logging.getLogger(__name__)


def parse(data: str) -> tuple[str, dict[str, Any], str | None] | None:
    """(type, properties, directory) of one data line, or None if it is not an event."""
    try:
        item = json.loads(data)
    except ValueError:
        return None
    if not isinstance(item, dict):
        return None
    payload = item.get("payload", item)
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return None
    properties = payload.get("properties")
    directory = item.get("directory")
    return (
        payload["type"],
        properties if isinstance(properties, dict) else {},
        directory if isinstance(directory, str) else None,
    )


async def read_events(client: httpx.AsyncClient, gen: int, emit: Callable[[Event], None]) -> None:
    """Read the stream until it ends, emitting events; the last one is always `StreamClosed`.

    Cancelling the task (the supervisor closed the stream) emits nothing.
    """
    url = str(client.base_url)
    try:
        async with aconnect_sse(client, "GET", PATH, timeout=_NO_READ_TIMEOUT) as source:
            cause = status_cause(source.response)
            if cause is not None:
                emit(StreamClosed(gen, cause))
                return
            skipped = 0
            async for sse in source.aiter_sse():
                parsed = parse(sse.data) if len(sse.data) <= MAX_EVENT_CHARS else None
                if parsed is None:
                    skipped += 1
                    if skipped <= 3 or skipped % 1000 == 0:
                        log.warning(
                            "skipping garbage on the event stream (%d so far): %.120r",
                            skipped,
                            sse.data,
                        )
                    continue
                type_, properties, directory = parsed
                if type_ == "server.connected":
                    emit(StreamOpened(gen))
                else:
                    emit(StreamEvent(gen, type_, properties, directory))
        emit(StreamClosed(gen, causes.stream_closed()))
    except SSEError as error:  # 200 but not an event stream: the web app's HTML, say
        emit(StreamClosed(gen, causes.stream_garbage(str(error))))
    except httpx.HTTPError as error:
        emit(StreamClosed(gen, error_cause(error, url, causes.stream_broken)))
