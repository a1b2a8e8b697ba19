"""A second baseline for `front_door.py`: the least any relay in Python could cost.

Copies bytes between each client connection and a connection of its own to the server, with no
HTTP parsing at all (so no credential check or rewrite: the client sends the server's own
credentials), on asyncio protocols in a thread of its own. What it adds to a request is the
extra loopback hop itself; what the bare h11 relay adds over it is the HTTP framing.
"""

from __future__ import annotations

import asyncio

from benchlib import LoopThread

from tray.runtime.tasks import Tasks


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


class TcpSplice(LoopThread):
    name = "tcp splice"

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self._upstream_port = upstream_port
        self._connects = Tasks(None, lambda error, _name: print(f"tcp splice: {error!r}"))

    async def _listen(self) -> asyncio.Server:
        return await asyncio.get_running_loop().create_server(self._accepted, "127.0.0.1", 0)

    def _accepted(self) -> _Pipe:
        client = _Pipe()
        self._connects.start(self._connect(client), "connect upstream")
        return client

    async def _connect(self, client: _Pipe) -> None:
        _, server = await asyncio.get_running_loop().create_connection(
            lambda: _Pipe(client), "127.0.0.1", self._upstream_port
        )
        client.joined(server)
