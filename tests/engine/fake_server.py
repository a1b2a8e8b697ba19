"""A small HTTP server on loopback that misbehaves on purpose: the faults the real one cannot show.

Two uses: in process (`FakeServer`, for `read_events` and `ServerApi`), and as a fake `opencode`
binary (`python fake_server.py serve --hostname H --port P`), whose event stream is the entry of
`STREAMS` named by FAKE_OPENCODE_STREAM, so the whole engine meets the same faults. Standard
library only: the fake binary runs as a plain script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Reply = Callable[[asyncio.StreamWriter], Awaitable[None]]

MODE_VARIABLE = "FAKE_OPENCODE_STREAM"
VERSION = "1.18.33"
HEAD_LIMIT = 64 * 1024
# Bigger than the engine's 4 MiB limit for one event.
OVERSIZED_CHARS = 4 * 1024 * 1024 + 1


def event(type_: str, **properties: Any) -> str:
    """A /global/event data line as the real server writes it."""
    return json.dumps({"payload": {"type": type_, "properties": properties}})


CONNECTED = event("server.connected")
HEARTBEAT = event("server.heartbeat")
NOT_JSON = "this is not JSON {"
UNKNOWN_TYPE = event("some.future.event", answer=42)
NO_TYPE = json.dumps({"payload": {"kind": "no type here"}})
OVERSIZED = event("session.updated", blob="x" * OVERSIZED_CHARS)


def _head(status: int, content_type: str, extra: str = "") -> bytes:
    reason = {200: "OK", 401: "Unauthorized", 500: "Internal Server Error"}.get(status, "Other")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def plain(status: int, content_type: str = "text/plain", body: str = "") -> Reply:
    data = body.encode()

    async def reply(writer: asyncio.StreamWriter) -> None:
        writer.write(_head(status, content_type, f"Content-Length: {len(data)}\r\n") + data)
        await writer.drain()

    return reply


def sse(*data: str, first_byte_after_s: float = 0.0, beat_every_s: float | None = None) -> Reply:
    """An event stream of `data` lines; then heartbeats forever, or the end of the body."""

    async def reply(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(first_byte_after_s)
        writer.write(_head(200, "text/event-stream"))
        for line in data:
            writer.write(f"data: {line}\n\n".encode())
            await writer.drain()
        while beat_every_s is not None:
            await asyncio.sleep(beat_every_s)
            writer.write(f"data: {HEARTBEAT}\n\n".encode())
            await writer.drain()

    return reply


async def silent(writer: asyncio.StreamWriter) -> None:
    """Accept the request and never answer, like a frozen server."""
    await asyncio.Event().wait()


HEALTHY = plain(200, "application/json", json.dumps({"healthy": True, "version": VERSION}))
HTML = plain(200, "text/html", "<!doctype html><html><body>the web app</body></html>")
BEAT_S = 0.2

# What the fake binary's /global/event does, by the name in FAKE_OPENCODE_STREAM.
STREAMS: dict[str, Reply] = {
    "garbage": sse(NOT_JSON, NO_TYPE, CONNECTED, UNKNOWN_TYPE, OVERSIZED, beat_every_s=BEAT_S),
    "401": plain(401),
    "500": plain(500, body="Internal Server Error"),
    "html": HTML,
    "silent": silent,
    "slow": sse(CONNECTED, first_byte_after_s=1.0, beat_every_s=BEAT_S),
}


class FakeServer:
    """Serves `routes` (path without query -> reply) on 127.0.0.1; 404 for anything else."""

    def __init__(self, routes: Mapping[str, Reply], port: int = 0) -> None:
        self.routes = routes
        self.port = port
        self.requests: list[tuple[str, dict[str, str]]] = []
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

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            path = request_line.split(" ")[1].split("?")[0]
            headers = dict(
                (name.strip().lower(), value.strip())
                for name, _, value in (line.partition(":") for line in header_lines if line)
            )
            self.requests.append((path, headers))
            reply = asyncio.ensure_future(_until_hung_up(self.routes.get(path, plain(404)), writer))
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


async def _until_hung_up(reply: Reply, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        await reply(writer)


async def serve_as_binary(port: int, stream: Reply) -> None:
    routes = {"/global/health": HEALTHY, "/global/event": stream}
    async with FakeServer(routes, port) as server:
        print(f"opencode server listening on {server.url}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="fake opencode")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--hostname", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    mode = os.environ.get(MODE_VARIABLE, "garbage")
    if mode not in STREAMS:
        sys.exit(f"unknown {MODE_VARIABLE}={mode!r}; one of {', '.join(STREAMS)}")
    asyncio.run(serve_as_binary(args.port, STREAMS[mode]))


if __name__ == "__main__":
    main()
