"""A baseline for `front_door.py`: the least a front door built on h11 could cost.

A bare relay on asyncio streams and h11 (which httpx already loads): it checks the Basic
credentials, forwards each request over a pool of keep-alive upstream connections and relays
the answer, bodies streamed both ways. It holds nothing, knows no server state and relays no
WebSocket. The door was built on h11 and streams until 2026-12-07; this relay, measured beside
it and beside the llhttp relay (`httptools_relay.py`), is why it is not any more.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Iterable

import h11
from benchlib import LoopThread

# One hop's headers, and those the relay sets itself.
_NOT_FORWARDED = frozenset(
    {b"connection", b"keep-alive", b"te", b"trailer", b"transfer-encoding", b"upgrade", b"host"}
)
_READ = 64 * 1024

Headers = list[tuple[bytes, bytes]]


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> object:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await reader.read(_READ))


def _framing(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The body framing headers to send on: its length, or chunked."""
    for name, value in headers:
        if name == b"content-length":
            return [(name, value)]
    if any(name == b"transfer-encoding" for name, _ in headers):
        return [(b"transfer-encoding", b"chunked")]
    return []


def _forwarded(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    headers = list(headers)
    return [
        (n, v) for n, v in headers if n not in _NOT_FORWARDED and n != b"content-length"
    ] + _framing(headers)


class _Pool:
    """Keep-alive connections to the upstream, the most recently used first."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection]] = []

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, h11.Connection]:
        while self._idle:
            reader, writer, conn = self._idle.pop()
            if not writer.is_closing() and conn.our_state is h11.IDLE:
                return reader, writer, conn
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return reader, writer, h11.Connection(h11.CLIENT)

    def give_back(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: h11.Connection
    ) -> None:
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            self._idle.append((reader, writer, conn))
        else:
            writer.close()


class H11Relay(LoopThread):
    name = "h11 relay"

    def __init__(self, public_basic: str, upstream_port: int, upstream_basic: str) -> None:
        super().__init__()
        self._public = public_basic.encode()
        self._upstream_auth = upstream_basic.encode()
        self._upstream_host = f"127.0.0.1:{upstream_port}".encode()
        self._pool = _Pool("127.0.0.1", upstream_port)

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await _next_event(conn, reader)
                if not isinstance(request, h11.Request):
                    break
                if self._allowed(request.headers):
                    await self._forward(conn, reader, writer, request)
                else:
                    writer.write(conn.send(h11.Response(status_code=401, headers=[])))
                    writer.write(conn.send(h11.EndOfMessage()))
                while conn.their_state is h11.SEND_BODY:  # a refused request's body
                    await _next_event(conn, reader)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError):
            pass
        finally:
            writer.close()

    def _allowed(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        sent = next((v for n, v in headers if n == b"authorization"), b"")
        return hmac.compare_digest(sent, self._public)

    async def _forward(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: h11.Request,
    ) -> None:
        up_reader, up_writer, up = await self._pool.take()
        headers = [(n, v) for n, v in _forwarded(request.headers) if n != b"authorization"]
        headers += [(b"host", self._upstream_host), (b"authorization", self._upstream_auth)]
        up_writer.write(
            up.send(h11.Request(method=request.method, target=request.target, headers=headers))
        )
        while not isinstance(part := await _next_event(conn, reader), h11.EndOfMessage):
            assert isinstance(part, h11.Data)
            up_writer.write(up.send(part))
            await up_writer.drain()
        up_writer.write(up.send(h11.EndOfMessage()))
        answer = await _next_event(up, up_reader)
        while isinstance(answer, h11.InformationalResponse):
            answer = await _next_event(up, up_reader)
        assert isinstance(answer, h11.Response)
        writer.write(
            conn.send(
                h11.Response(
                    status_code=answer.status_code,
                    headers=_forwarded(answer.headers),
                    reason=answer.reason,
                )
            )
        )
        while not isinstance(part := await _next_event(up, up_reader), h11.EndOfMessage):
            assert isinstance(part, h11.Data)
            writer.write(conn.send(part))
            await writer.drain()
        writer.write(conn.send(h11.EndOfMessage()))
        self._pool.give_back(up_reader, up_writer, up)
