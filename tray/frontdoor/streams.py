"""The front door's event streams: each client's stream is held open across servers, relayed from
one subscription after another, with the door's own heartbeats while no server relays it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from tray.core.door.phases import Phase, ServerView, Upstream, phase_of
from tray.core.door.requests import SETTLE_S
from tray.core.door.streams import HeldStream, first_event_within
from tray.core.sse import EventSplitter
from tray.frontdoor.exchange import Exchange, Request
from tray.frontdoor.inflight import CredentialGeneration, InFlight
from tray.frontdoor.server_connection import ServerResponse, UpstreamError
from tray.frontdoor.situation import Situation
from tray.frontdoor.upstream import UpstreamClient
from tray.frontdoor.wire import SSE_HEADERS, directory_of, upstream_request
from tray.generations.events import StreamFormat

log = logging.getLogger(__name__)


class _Refused(Exception):
    """The server answered a subscription with an error."""


@dataclass(eq=False)
class Stream:
    """One client's event stream, as the door's other tasks see it."""

    held: HeldStream
    exchange: Exchange
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    live: bool = False  # an upstream stream is being relayed now
    refused_by: Upstream | None = None  # the server that answered its subscription with an error
    silent_tries: int = 0  # subscriptions in a row that delivered nothing
    lost_at: float | None = None  # when the last upstream stream was lost
    upstream: ServerResponse | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    broken: bool = False  # the client went away

    async def write(self, data: bytes) -> None:
        if self.broken or not data:
            return
        async with self.lock:
            try:
                await self.exchange.write(data)
            except ConnectionError:
                self.broken = True
                self.ended.set()


class StreamRelay:
    def __init__(self, situation: Situation, inflight: InFlight, pool: UpstreamClient) -> None:
        """`pool`: the upstream client streams subscribe with (one connection each)."""
        self._situation = situation
        self._inflight = inflight
        self._pool = pool
        self._beats = asyncio.Event()  # set when a stream may need door heartbeats sooner

    def server_changed(self, view: ServerView) -> None:
        """Streams end, or are cut off from a replaced server, as the new `view` says."""
        for stream in self._inflight.streams():
            ended = stream.held.server_gone(view)
            if stream.upstream is not None and stream.held.bound_to != view.upstream:
                stream.upstream.close()  # a replaced server's stream says no more
            if ended:
                self._situation.spawn(stream.write(b"".join(ended)))
            if view.phase is Phase.CLOSED:
                stream.ended.set()
        self._beats.set()

    def late_for(self, upstream: Upstream) -> int:
        """How many open streams do not relay `upstream` yet (and were not refused by it)."""
        return sum(
            1
            for s in self._inflight.streams()
            if not s.ended.is_set()
            and not (s.live and s.held.bound_to == upstream)
            and s.refused_by != upstream
        )

    async def serve(
        self, exchange: Exchange, fmt: StreamFormat, generation: CredentialGeneration
    ) -> None:
        """A client's event stream, until it ends."""
        await exchange.start(200, SSE_HEADERS)
        held = HeldStream(fmt, directory_of(exchange.request))
        held.last_sent_at = self._situation.now()  # the first heartbeat is due 10 s from now
        stream = Stream(held, exchange)
        with self._inflight.tracking(generation, generation.streams, stream):
            self._beats.set()
            await self._relay(exchange.request, stream)
            if not stream.broken:
                async with stream.lock:
                    with contextlib.suppress(ConnectionError):
                        await exchange.end()

    async def _relay(self, request: Request, stream: Stream) -> None:
        """Relay upstream streams one after another until the stream ends."""
        situation = self._situation
        splitter = EventSplitter()
        while not stream.ended.is_set() and not situation.closing:
            view = situation.view
            if view.phase is Phase.CLOSED:
                return
            # Streams subscribe to a new server at once; requests wait until its projects are
            # loaded and the streams are on it (`warmup`).
            if view.upstream is None or phase_of(view.state) is not Phase.READY:
                await self._until_change_or_end(stream, None)
                continue
            upstream = view.upstream
            try:
                await self._subscribe(request, stream, upstream, splitter)
            finally:
                stream.upstream = None
                if stream.live:
                    stream.live = False
                    stream.lost_at = situation.now()
                    self._beats.set()
                await stream.write(splitter.reset())
            if (
                situation.view.upstream == upstream
                and phase_of(situation.view.state) is Phase.READY
            ):
                await self._until_change_or_end(stream, situation.now() + SETTLE_S)

    async def _subscribe(
        self, request: Request, stream: Stream, upstream: Upstream, splitter: EventSplitter
    ) -> None:
        """One subscription to `upstream`, relayed until it ends, breaks or stays silent."""
        target, headers = upstream_request(request, upstream)
        within = first_event_within(stream.silent_tries)
        first_event = asyncio.timeout(within)
        response: ServerResponse | None = None
        read_timeout_s = self._situation.config.timings.stream_read_timeout_s
        try:
            async with first_event:
                response = await self._pool.request(
                    upstream.url, "GET", target, headers, read_timeout_s=read_timeout_s
                )
                if response.status != 200:
                    stream.refused_by = upstream
                    raise _Refused(f"the server answered {response.status}")
                stream.upstream = response
                stream.held.subscribed(upstream)
                first = await response.readany()
                first_event.reschedule(None)
            stream.silent_tries = 0
            await self._relay_one(stream, response, splitter, first)
        except (UpstreamError, TimeoutError, _Refused) as error:
            why = repr(error)
            if first_event.expired():
                stream.silent_tries += 1
                why = f"no first event within {within:.0f} s"
            log.debug("front door: stream %s lost: %s", request.path, why)
        finally:
            if response is not None:
                response.close()  # a stream's connection is not used again

    async def _relay_one(
        self, stream: Stream, response: ServerResponse, splitter: EventSplitter, data: bytes
    ) -> None:
        """Relay `data`, the first read of `response`, and the rest of it (each read is all
        that arrived: one write for all)."""
        while data:
            now = self._situation.now()
            if not stream.live:
                stream.live = True
                if stream.lost_at is not None:
                    self._inflight.last_hold_s = now - stream.lost_at
                    log.debug(
                        "front door: a stream is live again after %.1f s", now - stream.lost_at
                    )
            block = splitter.feed(data)
            if block:
                await stream.write(b"".join(stream.held.relay(block, now)))
            if stream.ended.is_set():
                return
            data = await response.readany()

    async def _until_change_or_end(self, stream: Stream, until: float | None) -> None:
        """Until the next server change after the caller looked (the future is taken now, not
        when a task starts: a change in between must wake it), the stream's end, or `until`."""
        changed = self._situation.changed
        assert changed is not None
        ended: asyncio.Future[Any] = asyncio.ensure_future(stream.ended.wait())
        timeout = None if until is None else max(0.0, until - self._situation.now())
        waits: list[asyncio.Future[Any]] = [ended, asyncio.shield(changed)]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()

    async def tick(self) -> None:
        """Heartbeats for held streams, in the server's format. It wakes only when one is due
        (or something changed): an idle door with live streams costs no wakeups."""
        while True:
            self._beats.clear()
            situation = self._situation
            now = situation.now()
            due: list[float] = []
            for stream in self._inflight.streams():
                beat = stream.held.heartbeat_due(situation.view, stream.live, now)
                if beat is not None:
                    situation.spawn(stream.write(beat))
                if not (stream.live and situation.view.phase is Phase.READY):
                    due.append(stream.held.next_heartbeat_at())
            timeout = max(0.0, min(due) - now) if due else None
            # Not wait_for: on Python 3.11 it swallows a cancellation that comes as the event is
            # set, and this loop then ran on and `close()` waited for it forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._beats.wait()
