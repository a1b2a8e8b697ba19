"""A second baseline for `front_door.py`: the least any relay in Python could cost.

Copies bytes between each client connection and a connection of its own to the server, with no
HTTP parsing at all (so no credential check or rewrite: the client sends the server's own
credentials), on asyncio protocols in a thread of its own. What it adds to a request is the
extra loopback hop itself; what the bare h11 relay adds over it is the HTTP framing.
"""

from __future__ import annotations

import asyncio
import threading


class _Pipe(asyncio.Protocol):
    """One side of a splice: what it receives goes to its peer (kept until the peer exists)."""

    def __init__(self, peer: _Pipe | None = None) -> None:
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self._early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self._early.append(data)

    def joined(self, peer: _Pipe) -> None:
        self.peer = peer
        assert peer.transport is not None
        for data in self._early:
            peer.transport.write(data)
        self._early.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


class TcpSplice:
    """Listens on a free loopback port of its own thread's loop; `url` once `start` returns."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url = ""

    def start(self) -> None:
        threading.Thread(target=self._run, name="tcp splice", daemon=True).start()
        self._ready.wait()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self) -> None:
        self._loop = loop = asyncio.new_event_loop()
        server = loop.run_until_complete(loop.create_server(self._accepted, "127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        loop.run_forever()

    def _accepted(self) -> _Pipe:
        client = _Pipe()
        assert self._loop is not None
        self._loop.create_task(self._connect(client))
        return client

    async def _connect(self, client: _Pipe) -> None:
        assert self._loop is not None
        _, server = await self._loop.create_connection(
            lambda: _Pipe(client), "127.0.0.1", self._upstream_port
        )
        client.joined(server)
