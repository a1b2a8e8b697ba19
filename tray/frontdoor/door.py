"""The front door on asyncio: a public listener, the upstream client and the relays.

Every request is checked for credentials first (`gate`: nothing is held for a caller who is not
let in), then `tray.core.front_door` decides: forward, hold until the server is ready, retry
once, or answer 503 in the server's error shape (`requests`). Event streams stay open across
servers (`streams`); a new server is warmed up with the clients' projects before requests reach
it (`warmup`); WebSocket upgrades (the web app's terminal) are relayed frame by frame
(`websocket`). What is in flight is kept by credentials' generation (`inflight`). HTTP is
parsed by llhttp (httptools) on both sides (`listener`, `upstream`), on asyncio protocols:
chosen by measurement (benchmarks/front_door.py), h11 on asyncio streams cost the door about
three times the CPU per request. wsproto frames WebSocket, loaded with the first one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from tray.core.door.auth import LOGIN_PATH
from tray.core.door.phases import Credentials, ServerView
from tray.core.door.stats import DoorStats
from tray.core.status import State
from tray.frontdoor.config import DoorConfig
from tray.frontdoor.gate import Gate
from tray.frontdoor.inflight import GOING_AWAY, InFlight
from tray.frontdoor.listener import Listener
from tray.frontdoor.requests import RequestRelay
from tray.frontdoor.situation import Situation
from tray.frontdoor.streams import StreamRelay
from tray.frontdoor.upstream import UpstreamClient
from tray.frontdoor.warmup import Warmup
from tray.frontdoor.wire import unreadable

__all__ = ["DoorConfig", "FrontDoor"]
log = logging.getLogger(__name__)


class FrontDoor:
    """The public address. Wire it with a few calls: `await start()`, then `server_changed()`
    at each status the engine pushes, `set_credentials()` after a rotation, `await close()`."""

    def __init__(
        self,
        config: DoorConfig,
        credentials: Credentials,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`credentials`: the public ones (`set_credentials` changes them)."""
        timings = config.timings
        self._situation = situation = Situation(config, clock)
        self._inflight = inflight = InFlight()
        pool = UpstreamClient(
            config.upstream_requests, timings.upstream_keepalive_s, timings.connect_timeout_s
        )
        streams_pool = UpstreamClient(0, timings.upstream_keepalive_s, timings.connect_timeout_s)
        self._pools = (pool, streams_pool)  # REST: a bounded pool; streams: one connection each
        self.streams = StreamRelay(situation, inflight, streams_pool)
        self.warmup = Warmup(situation, pool, self.streams, self._warm)
        self.gate = Gate(
            credentials,
            lambda: self._situation.config,
            lambda: len(self._listener.connections),
            clock,
            self.warmup.remember,
        )
        self.requests = RequestRelay(situation, inflight, self.gate, pool, self.streams)
        self._listener = Listener(
            self.requests.handle,
            unreadable,
            max_head_bytes=config.max_header_bytes,
            max_headers=config.max_headers,
            timings=timings.listener,
        )
        self._ticker: asyncio.Task[None] | None = None
        self._url: str | None = None

    @property
    def config(self) -> DoorConfig:
        return self._situation.config

    @property
    def url(self) -> str:
        """The public address clients use (after `start`)."""
        assert self._url is not None, "start the door first"
        return self._url

    async def start(self) -> str:
        self._situation.start()
        cfg = self.config
        # No access log: the app logs at INFO, and a line per request (formatted, redacted and
        # written on this thread after each response) would be a cost on every request.
        port = await self._listener.start(cfg.host, cfg.port, backlog=1024)
        self._url = f"http://{cfg.host}:{port}"
        self._ticker = asyncio.get_running_loop().create_task(
            self.streams.tick(), name="front door heartbeats"
        )
        log.info("front door listening on %s", self._url)
        return self._url

    def server_changed(self, seen: ServerView) -> None:
        """The server as the engine's latest status shows it (`seen.upstream`: its private
        address and per-start credentials, None while there is no server answering). Whether
        its projects are loaded is the door's to say (`warmup`)."""
        view = self.warmup.view_of(seen)
        if view == self._situation.view:
            return
        self._situation.view = view
        self.streams.server_changed(view)
        self._situation.wake()

    def _warm(self) -> None:
        self.server_changed(self._situation.view)  # now loaded: ready for clients

    def set_hold_limit(self, seconds: float) -> None:
        """A new startup timeout: how long requests and streams that arrive from now on wait
        for a server."""
        self._situation.config = replace(self.config, hold_limit_s=seconds)

    def set_credentials(self, credentials: Credentials) -> None:
        """New public credentials (a rotation): what the old ones let in ends now."""
        self.gate.rotate(credentials)
        self._inflight.rotate()

    def login_url(self, target: str) -> str:
        """A one-time URL that signs a browser in and sends it on to `target` (a web app path or
        URL; any `auth_token` in it is dropped). Good for a few seconds, once."""
        token = self.gate.logins.issue(target, self._situation.now())
        return f"{self.url}{LOGIN_PATH}/{token}"

    def stats(self) -> DoorStats:
        inflight = self._inflight
        streams = inflight.streams()
        return DoorStats(
            url=self._url,
            clients=inflight.clients,
            streams=len(streams),
            streams_held=sum(1 for s in streams if not s.live),
            requests_held=inflight.held,
            requests_relayed=inflight.relayed,
            last_hold_s=inflight.last_hold_s,
        )

    async def close(self) -> None:
        """Stop listening; held requests get 503, streams end cleanly. Once is enough."""
        situation = self._situation
        if situation.closing:
            return
        situation.closing = True
        self.server_changed(ServerView(State.STOPPED, None, situation.view.cause))
        for tunnel in self._inflight.tunnels():
            tunnel.close(GOING_AWAY, "app quitting")
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)  # ended, not left pending
        await self._listener.close()  # lets handlers end their streams
        for pool in self._pools:
            await pool.close()
