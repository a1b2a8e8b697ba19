"""A third baseline for `front_door.py`: a relay on llhttp (httptools) and asyncio protocols.

It parses each request's head with llhttp, checks the Basic credentials, sends the head on
with the server's credentials over a pool of keep-alive upstream connections, and copies the
answer's bytes back as they come, llhttp telling where each answer ends. No holds, no server
state, no WebSocket: what a door on a C parser and protocol callbacks could cost, beside the
h11 relay (the door's framing today) and the TCP splice (no framing at all).
"""

from __future__ import annotations

import asyncio
import hmac

import httptools
from benchlib import LoopThread

_NOT_FORWARDED = frozenset({b"connection", b"keep-alive", b"host", b"authorization"})


class _Upstream(asyncio.Protocol):
    """One keep-alive connection to the server: each answer's bytes go to the client as read."""

    def __init__(self, pool: list[_Upstream]) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: _Client | None = None
        self._early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"".join(self._early))
        self._early.clear()

    def send(self, data: bytes) -> None:
        if self.transport is None:
            self._early.append(data)
        else:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        assert self.client is not None
        assert self.client.transport is not None
        self.client.transport.write(data)
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        self._pool.append(self)
        assert client is not None
        client.answered()

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self._pool:
            self._pool.remove(self)
        if self.client is not None and self.client.transport is not None:
            self.client.transport.close()


class _Client(asyncio.Protocol):
    def __init__(self, relay: HttptoolsRelay) -> None:
        self._relay = relay
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._upstream: _Upstream | None = None
        self._chunked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        assert self.transport is not None
        sent = next((v for n, v in self._headers if n == b"authorization"), b"")
        if not hmac.compare_digest(sent, self._relay.public):
            self.transport.write(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
            self._upstream = None
            return
        self._chunked = any(n == b"transfer-encoding" for n, _ in self._headers)
        head = [self._parser.get_method(), b" ", self._url, b" HTTP/1.1\r\n", self._relay.auth]
        for name, value in self._headers:
            if name not in _NOT_FORWARDED:
                head += (name, b": ", value, b"\r\n")
        head.append(b"\r\n")
        self._upstream = self._relay.take()
        self._upstream.client = self
        self._upstream.send(b"".join(head))
        self.transport.pause_reading()  # one request at a time

    def on_body(self, body: bytes) -> None:
        if self._upstream is not None:
            self._upstream.send(b"%x\r\n%b\r\n" % (len(body), body) if self._chunked else body)

    def on_message_complete(self) -> None:
        if self._upstream is not None and self._chunked:
            self._upstream.send(b"0\r\n\r\n")

    def answered(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class HttptoolsRelay(LoopThread):
    name = "httptools relay"

    def __init__(self, public_basic: str, upstream_port: int, upstream_basic: str) -> None:
        super().__init__()
        self.public = public_basic.encode()
        host = f"127.0.0.1:{upstream_port}".encode()
        self.auth = b"host: %b\r\nauthorization: %b\r\n" % (host, upstream_basic.encode())
        self._port = upstream_port
        self._idle: list[_Upstream] = []
        self._connecting: set[asyncio.Task[object]] = set()

    async def _listen(self) -> asyncio.Server:
        return await asyncio.get_running_loop().create_server(lambda: _Client(self), "127.0.0.1", 0)

    def take(self) -> _Upstream:
        if self._idle:
            return self._idle.pop()
        upstream = _Upstream(self._idle)
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.create_connection(lambda: upstream, "127.0.0.1", self._port))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)
        return upstream
