"""The front door's requests, one task each: screened (`gate`), then held until the server is
ready, forwarded, and tried again as `tray.core.front_door` decides; event streams and WebSocket
upgrades go on to their relays."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tray.core.door.errors import Refuse, unavailable
from tray.core.door.phases import Upstream
from tray.core.door.requests import Answer, Forward, Hold, Pending, decide_request
from tray.frontdoor.exchange import ClientGone, Exchange, Response
from tray.frontdoor.gate import WEBSOCKET, Gate
from tray.frontdoor.inflight import CredentialGeneration, InFlight
from tray.frontdoor.server_connection import ServerResponse, UpstreamError
from tray.frontdoor.situation import Situation
from tray.frontdoor.streams import StreamRelay
from tray.frontdoor.upstream import UpstreamClient
from tray.frontdoor.wire import JSON, refuse, response_headers, upstream_request
from tray.generations.events import StreamFormat

log = logging.getLogger(__name__)
# A response up to this size is read whole before it is sent on, so that a server dying in
# the middle of it still gets the client a retry or a 503 instead of a cut-off body.
BUFFER_RESPONSE_BYTES = 1024 * 1024


class _Cutoff(Exception):
    """A forward failed before anything was written to the client."""

    def __init__(self, text: str, sent: bool) -> None:
        super().__init__(text)
        self.sent = sent


class RequestRelay:
    def __init__(
        self,
        situation: Situation,
        inflight: InFlight,
        gate: Gate,
        pool: UpstreamClient,
        streams: StreamRelay,
    ) -> None:
        """`pool`: the upstream client requests are forwarded with."""
        self.situation = situation
        self.inflight = inflight
        self._gate = gate
        self._pool = pool
        self._streams = streams

    async def handle(self, exchange: Exchange) -> None:
        """A request's task (the listener's handler): its checks, then where they send it."""
        inflight = self.inflight
        generation = inflight.current
        task = asyncio.current_task()
        assert task is not None
        inflight.clients += 1
        try:
            response = await self._admit(exchange, generation, task)
            if response is not None:
                await exchange.respond(response)
        finally:
            inflight.clients -= 1
            inflight.drop(generation, generation.requests, task)

    async def _admit(
        self, exchange: Exchange, generation: CredentialGeneration, task: asyncio.Task[Any]
    ) -> Response | None:
        """The response to send, or None once the request was answered."""
        screened = self._gate.screen(exchange.request)
        if isinstance(screened, Response):
            return screened
        if isinstance(screened, StreamFormat):
            await self._streams.serve(exchange, screened, generation)
            return None
        generation.requests.add(task)  # ended by a rotation
        if screened == WEBSOCKET:
            from tray.frontdoor import websocket  # noqa: PLC0415  (wsproto: only when used)

            return await websocket.relay(self, exchange, generation)
        return await self._forward(exchange)

    async def decide(self, pending: Pending) -> Forward | Refuse | Answer:
        """Hold until the core says forward, refuse or answer."""
        situation, inflight = self.situation, self.inflight
        held_since: float | None = None
        try:
            while True:
                decision = decide_request(pending, situation.view, situation.now())
                if not isinstance(decision, Hold):
                    if held_since is not None and isinstance(decision, Forward):
                        inflight.last_hold_s = situation.now() - held_since
                    return decision
                if held_since is None:
                    limit = situation.config.max_held_requests
                    if inflight.held >= limit:
                        return unavailable(
                            situation.view,
                            f"{limit} requests are waiting already, this one was not",
                        )
                    held_since = situation.now()
                    inflight.held += 1
                await situation.wait_change(decision.until)
        finally:
            if held_since is not None:
                inflight.held -= 1

    def pending(self, exchange: Exchange) -> Pending:
        """A request about to be decided on for the first time."""
        request = exchange.request
        hold_limit_s = self.situation.config.hold_limit_s
        return Pending(request.method, request.path, self.situation.now(), hold_limit_s)

    async def _forward(self, exchange: Exchange) -> Response | None:
        """Forward the request, holding it and trying again as the core decides."""
        request = exchange.request
        pending = self.pending(exchange)
        while True:
            decision = await self.decide(pending)
            if isinstance(decision, Refuse):
                return refuse(decision)
            if isinstance(decision, Answer):
                return Response(decision.status, JSON, decision.body)
            upstream = decision.upstream
            try:
                response = await self._send(exchange, upstream)
            except _Cutoff as cutoff:
                log.info("front door: %s %s: %s", request.method, request.path, cutoff)
                now = self.situation.now()
                pending = pending.failed(upstream, now, str(cutoff), cutoff.sent)
                continue
            self.inflight.relayed += 1
            return response

    async def _send(self, exchange: Exchange, upstream: Upstream) -> Response | None:
        """The server's response: whole if small (None: it was streamed to the client)."""
        request = exchange.request
        target, headers = upstream_request(request, upstream)
        body = exchange.body() if request.body_exists else None
        try:
            response = await self._pool.request(
                upstream.url, request.method, target, headers, body=body
            )
        except UpstreamError as error:
            raise _Cutoff(str(error), sent=error.connected) from error
        return await self._send_on(exchange, response)

    async def _send_on(self, exchange: Exchange, response: ServerResponse) -> Response | None:
        """The server's `response` (its head read): whole if small (None: it was streamed)."""
        try:
            headers = response_headers(response.headers)
            length = response.content_length
            if length is not None and length <= BUFFER_RESPONSE_BYTES:
                return Response(response.status, headers, await response.read(), response.reason)
            first = await response.readany()
            await exchange.start(response.status, headers, response.reason)
            await _pipe(exchange, response, first)
            return None
        except UpstreamError as error:
            raise _Cutoff(str(error), sent=True) from error
        finally:
            response.release()


async def _pipe(exchange: Exchange, response: ServerResponse, first: bytes) -> None:
    """Stream the rest of a large body; a break now can only cut the client off."""
    try:
        data = first
        while data:
            await exchange.write(data)
            data = await response.readany()
        await exchange.end()
    except UpstreamError as error:
        request = exchange.request
        log.warning("front door: %s %s cut off mid-body: %s", request.method, request.path, error)
        raise ClientGone("cut off mid-body") from error  # the connection closes
