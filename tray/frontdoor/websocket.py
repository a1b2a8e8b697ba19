"""WebSocket through the front door (the web app's terminal), with wsproto: the upstream
handshake, and a tunnel that reads frames on each side and sends them on, so that the door can
close the client's side with a code of its own (a rotation, the app quitting, the server gone).

Loaded when the first WebSocket connects: most runs never open one.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.handshake import H11Handshake
from wsproto.utilities import LocalProtocolError, ProtocolError, generate_accept_token

from tray.core.door.errors import Refuse, unavailable
from tray.core.door.requests import Answer
from tray.frontdoor.exchange import Exchange, Response
from tray.frontdoor.http import READ, Headers
from tray.frontdoor.server_connection import Address, UpstreamError
from tray.frontdoor.upstream import address_of, connect
from tray.frontdoor.wire import JSON, refuse, upstream_request

if TYPE_CHECKING:
    from tray.frontdoor.inflight import CredentialGeneration
    from tray.frontdoor.requests import RequestRelay

# The close code for a server gone (IANA's WebSocket registry: "Service Restart")
SERVICE_RESTART = 1012
# The client's side of a WebSocket handshake: the door makes its own with the server.
HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    }
)


async def relay(
    requests: RequestRelay, exchange: Exchange, generation: CredentialGeneration
) -> Response | None:
    """A client's WebSocket upgrade: held as any request, then tunnelled to the server."""
    request = exchange.request
    key = request.header("sec-websocket-key")
    if key is None:
        return refuse(Refuse(400, "BadRequest", "a WebSocket upgrade needs Sec-WebSocket-Key"))
    decision = await requests.decide(requests.pending(exchange))
    if isinstance(decision, Refuse):
        return refuse(decision)
    if isinstance(decision, Answer):
        return Response(decision.status, JSON, decision.body)
    target, headers = upstream_request(request, decision.upstream)
    headers = [(n, v) for n, v in headers if n.lower() not in HANDSHAKE]
    offered = request.header("sec-websocket-protocol") or ""
    protocols = [p.strip() for p in offered.split(",") if p.strip()]
    situation = requests.situation
    try:
        upstream, chosen = await open_upstream(
            address_of(decision.upstream.url),
            target,
            headers,
            protocols,
            situation.config.timings.connect_timeout_s,
        )
    except Refused as refused:
        return refuse(Refuse(refused.status, "UpgradeFailed", str(refused)))
    except UpstreamError as error:
        why = f"the terminal connection failed ({error})"
        return refuse(unavailable(situation.view, why))
    tunnel = Tunnel.to_client(await exchange.switch(accept_headers(key, chosen)), upstream)
    with requests.inflight.tracking(generation, generation.tunnels, tunnel):
        await tunnel.run()
    return None


class Refused(Exception):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def accept_headers(key: str, subprotocol: str | None) -> Headers:
    """The 101's headers for a client that sent `key`."""
    headers = [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", generate_accept_token(key.encode("ascii"))),
    ]
    if subprotocol:
        headers.append((b"sec-websocket-protocol", subprotocol.encode("ascii")))
    return headers


class _Side:
    def __init__(
        self,
        kind: ConnectionType,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        trailing: bytes,
    ) -> None:
        self.ws = Connection(kind, trailing_data=trailing)
        self.reader = reader
        self.writer = writer

    def send(self, event: Event) -> None:
        """Send `event` if this side can still take it."""
        with contextlib.suppress(LocalProtocolError):
            if self.ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                self.writer.write(self.ws.send(event))


async def open_upstream(
    address: Address, target: str, headers: Headers, subprotocols: list[str], timeout_s: float
) -> tuple[_Side, str | None]:
    """The server's side of a tunnel and the subprotocol it chose; `Refused` or
    `UpstreamError` if there is none."""
    reader, writer = await connect(address, timeout_s)
    handshake = H11Handshake(ConnectionType.CLIENT)
    try:
        request = Request(
            host=f"{address[0]}:{address[1]}",
            target=target,
            extra_headers=headers,
            subprotocols=subprotocols,
        )
        writer.write(handshake.send(request))
        async with asyncio.timeout(timeout_s):
            while True:
                data = await reader.read(READ)
                handshake.receive_data(data or None)
                for event in handshake.events():
                    if isinstance(event, AcceptConnection):
                        connection = handshake.connection
                        assert connection is not None
                        side = _Side(ConnectionType.CLIENT, reader, writer, b"")
                        side.ws = connection
                        return side, event.subprotocol
                    if isinstance(event, RejectConnection):
                        raise Refused(event.status_code, f"the server answered {event.status_code}")
                if not data:
                    raise UpstreamError("the server closed the connection during the upgrade", True)
    except BaseException as error:
        writer.close()
        if isinstance(error, TimeoutError):
            raise UpstreamError(f"no upgrade within {timeout_s:g} s", True) from error
        if isinstance(error, (OSError, ProtocolError)):
            raise UpstreamError(f"the upgrade failed: {error}", True) from error
        raise


class Tunnel:
    """Frames both ways between the client's side and the server's, until either closes."""

    def __init__(self, client: _Side, upstream: _Side) -> None:
        self._client = client
        self._upstream = upstream
        self._stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    def to_client(
        cls,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes],
        upstream: _Side,
    ) -> Tunnel:
        return cls(_Side(ConnectionType.SERVER, *client), upstream)

    def close(self, code: int, reason: str) -> None:
        """End the tunnel, telling the client why."""
        self._client.send(CloseConnection(code=code, reason=reason))
        if not self._stop.done():
            self._stop.set_result(None)

    async def run(self) -> None:
        from_client = asyncio.ensure_future(_pump(self._client, self._upstream))
        from_server = asyncio.ensure_future(_pump(self._upstream, self._client))
        try:
            await asyncio.wait(
                {from_client, from_server, self._stop}, return_when=asyncio.FIRST_COMPLETED
            )
            if from_server.done():  # the server went away, with or without a close of its own
                self._client.send(
                    CloseConnection(code=SERVICE_RESTART, reason="opencode server went away")
                )
        finally:
            for task in (from_client, from_server):
                task.cancel()
            await asyncio.gather(from_client, from_server, return_exceptions=True)
            self._upstream.writer.close()
            with contextlib.suppress(ConnectionError):
                await self._client.writer.drain()


async def _pump(source: _Side, sink: _Side) -> None:
    """Send on what `source` says until it closes (its close is sent on too)."""
    while True:
        for event in source.ws.events():
            if isinstance(event, CloseConnection):
                source.send(event.response())
                sink.send(CloseConnection(code=event.code, reason=event.reason))
                return
            if isinstance(event, TextMessage):
                sink.send(TextMessage(event.data, event.frame_finished, event.message_finished))
            elif isinstance(event, BytesMessage):
                sink.send(BytesMessage(event.data, event.frame_finished, event.message_finished))
            elif isinstance(event, Ping):
                sink.send(Ping(event.payload))
            elif isinstance(event, Pong):
                sink.send(Pong(event.payload))
        try:
            data = await source.reader.read(READ)
        except ConnectionError:
            return
        if not data:
            return
        source.ws.receive_data(data)
