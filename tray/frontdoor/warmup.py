"""A new server's warm-up behind the front door: the projects clients used are loaded on it, and
every open stream subscribed to it, before requests reach it (`ServerView.loaded`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from tray.core.door.phases import Phase, ServerView, Upstream, phase_of
from tray.core.door.requests import SETTLE_S
from tray.frontdoor.exchange import Request
from tray.frontdoor.server_connection import UpstreamError
from tray.frontdoor.situation import Situation
from tray.frontdoor.streams import StreamRelay
from tray.frontdoor.upstream import UpstreamClient
from tray.frontdoor.wire import directory_of
from tray.generations.v1 import V1

log = logging.getLogger(__name__)


class Warmup:
    def __init__(
        self,
        situation: Situation,
        pool: UpstreamClient,
        streams: StreamRelay,
        loaded: Callable[[], None],
    ) -> None:
        """`loaded` is called once a server is warm (the view says so from then on)."""
        self._situation = situation
        self._pool = pool
        self._streams = streams
        self._loaded = loaded
        self._directories: dict[str, None] = {}  # the projects clients used, oldest first
        self._loading: Upstream | None = None  # the server whose projects are being loaded
        self._loaded_on: Upstream | None = None  # the server whose projects were loaded

    def remember(self, request: Request) -> None:
        """The project `request` is for, if any, is loaded on the next server."""
        directory = directory_of(request)
        if directory:
            self._directories.pop(directory, None)
            self._directories[directory] = None  # the newest last; the oldest go first
            while len(self._directories) > self._situation.config.max_directories:
                del self._directories[next(iter(self._directories))]

    def view_of(self, seen: ServerView) -> ServerView:
        """The server as the engine's status shows it (`seen`), with whether it is warm; a
        warm-up starts for a ready server that is not."""
        upstream = seen.upstream
        loaded = upstream is None or upstream == self._loaded_on
        version = seen.version or self._situation.view.version
        view = replace(seen, version=version, loaded=loaded)
        ready = phase_of(seen.state) is Phase.READY
        changed = view != self._situation.view
        if changed and upstream is not None and not loaded and ready and self._loading != upstream:
            self._loading = upstream
            self._situation.spawn(self._load_projects(upstream))
        return view

    async def _load_projects(self, upstream: Upstream) -> None:
        """Ask the new server for the sessions of every project clients used (and of its own
        folder), and wait until every open stream relays it, so that no event of the requests
        released next is lost (the server drops the events of a request that loads a project,
        and of course those of a stream not yet open); then the server is ready for clients.
        Half the hold limit at most: held requests still get through."""
        situation = self._situation
        started = situation.now()
        deadline = started + situation.config.hold_limit_s / 2
        directories = ("", *self._directories)
        loaded = await asyncio.gather(
            *(self._load_project(upstream, d, deadline) for d in directories)
        )
        late = await self._streams_on(upstream, deadline)
        took = situation.now() - started
        if late:
            log.warning(
                "front door: %d streams not on the new server after %.1f s: their clients may "
                "miss events",
                late,
                took,
            )
        log.info("front door: %d of %d projects loaded in %.1f s", sum(loaded), len(loaded), took)
        if self._loading == upstream:
            self._loading = None
        if situation.view.upstream == upstream:
            self._loaded_on = upstream
            self._loaded()

    async def _load_project(self, upstream: Upstream, directory: str, deadline: float) -> bool:
        """`GET /session` for `directory` ("": the server's folder). Any response loads it; a
        request lost on the way is tried again until `deadline`."""
        situation = self._situation
        target = V1.sessions_path(directory)
        headers = [(b"authorization", upstream.credentials.basic().encode())]
        while situation.view.upstream == upstream:
            try:
                async with asyncio.timeout(max(deadline - situation.now(), 0.1)):
                    response = await self._pool.request(upstream.url, "GET", target, headers)
                    try:
                        await response.read()
                    finally:
                        response.release()
                return True
            except (UpstreamError, TimeoutError) as error:
                if situation.now() + SETTLE_S >= deadline:
                    where = directory or "the server's folder"
                    log.warning("front door: loading %s failed: %s", where, error)
                    return False
            await asyncio.sleep(SETTLE_S)
        return False  # that server is gone

    async def _streams_on(self, upstream: Upstream, deadline: float) -> int:
        """Until every open stream relays `upstream` (or was refused by it), or `deadline`;
        polled only while a server comes up. The number of streams still not on it then."""
        poll_s = self._situation.config.timings.subscribe_poll_s
        while self._situation.view.upstream == upstream:
            late = self._streams.late_for(upstream)
            if not late or self._situation.now() >= deadline:
                return late
            await asyncio.sleep(poll_s)
        return 0  # that server is gone
