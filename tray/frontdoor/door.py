"""The front door on asyncio: a public listener, the upstream client and the relays.

Every request is checked for credentials first (nothing is held for a caller who is not let
in), then `tray.core.door` decides: forward, hold until the server is ready, retry once,
or answer 503 in the server's error shape. Event streams stay open across servers; WebSocket
upgrades (the web app's terminal) are relayed frame by frame. HTTP is parsed by llhttp
(httptools) on both sides (`listener`, `upstream`), on asyncio protocols: chosen by measurement
(benchmarks/front_door.py), h11 on asyncio streams cost the door about three times the CPU per
request. wsproto frames WebSocket, loaded with the first one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tray.core.door.auth import (
    COOKIE_NAME,
    LOGIN_PATH,
    BrowserLogins,
    authenticate,
    check_basic,
    cookie_header,
    needs_credentials,
    strip_query,
)
from tray.core.door.errors import (
    Refuse,
    body_too_large,
    too_many_connections,
    unauthorized,
    unavailable,
)
from tray.core.door.phases import Credentials, Phase, ServerView, Upstream, phase_of
from tray.core.door.requests import (
    HOLD_LIMIT_S,
    SETTLE_S,
    Answer,
    Forward,
    Hold,
    Pending,
    decide_request,
)
from tray.core.door.stats import DoorStats
from tray.core.door.streams import STREAM_SILENCE_S, HeldStream, first_event_within
from tray.core.sse import EventSplitter
from tray.core.status import State
from tray.frontdoor.heads import Headers
from tray.frontdoor.listener import ClientGone, Exchange, Listener, Reply, Request
from tray.frontdoor.upstream import (
    BUFFER_BYTES,
    UpstreamAnswer,
    UpstreamClient,
    UpstreamError,
    address_of,
)
from tray.generations.events import StreamFormat
from tray.generations.v1 import V1

if TYPE_CHECKING:
    from tray.frontdoor.websocket import Tunnel

log = logging.getLogger(__name__)

# Headers that belong to one hop (RFC 9110 7.6.1), never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Not forwarded from the client: the door sets them for the upstream itself (and answers a
# client's `Expect: 100-continue` itself when it reads the body).
NOT_FORWARDED = HOP_BY_HOP | {b"host", b"authorization", b"expect"}
# The client's side of a WebSocket handshake: the door makes its own with the server.
WEBSOCKET_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    }
)
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-accel-buffering", b"no"),
]
JSON: Headers = [(b"content-type", b"application/json; charset=utf-8")]
# Where a request goes after its checks (`FrontDoor._screen`), unless it is an event stream.
_WEBSOCKET = "websocket"
_FORWARD = "forward"
# A response up to this size is read whole before it is answered, so that a server dying in
# the middle of it still gets the client a retry or a 503 instead of a cut-off body.
BUFFER_RESPONSE_BYTES = 1024 * 1024
# `_quick` waits for an answer up to this size (all the upstream client keeps unread); a larger
# one is read by a task.
QUICK_RESPONSE_BYTES = BUFFER_BYTES
CHUNK = 64 * 1024
# Below the server's (Bun's) idle timeout of 10 s, so a pooled connection is never one it has
# just closed.
UPSTREAM_KEEPALIVE_S = 4.0
CONNECT_TIMEOUT_S = 10.0
# Requests forwarded at once; more wait for a connection of the pool (a server flooded with a
# thousand new connections at once times some of them out while accepting).
UPSTREAM_REQUESTS = 128
MAX_DIRECTORIES = 32  # projects loaded on each new server before clients reach it
SUBSCRIBE_POLL_S = 0.02
# WebSocket close codes the door sends (RFC 6455 7.4.1)
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
# An upstream stream that says nothing for this long is lost (the server sends a heartbeat
# every 10 s).
STREAM_READ_TIMEOUT_S = STREAM_SILENCE_S


@dataclass(frozen=True)
class DoorConfig:
    """Where the door listens and its bounds; each bound answers with a clear error."""

    host: str = "127.0.0.1"
    port: int = 4096  # 0: any free port
    hold_limit_s: float = HOLD_LIMIT_S  # the startup timeout
    max_connections: int = 4096
    max_held_requests: int = 2048
    max_body_bytes: int = 256 * 1024 * 1024
    max_header_bytes: int = 16 * 1024  # the request line and headers together, as the server's
    max_headers: int = 128


class _Cutoff(Exception):
    """A forward failed before anything was written to the client."""

    def __init__(self, text: str, sent: bool) -> None:
        super().__init__(text)
        self.sent = sent


@dataclass(frozen=True, eq=False)
class _Asked:
    """A request `FrontDoor._quick` forwarded, until its answer is in."""

    exchange: Exchange
    gen: int  # the credentials' generation it came with
    pending: Pending
    upstream: Upstream
    answer: UpstreamAnswer


@dataclass(eq=False)
class _Stream:
    """One client's event stream, as the door's other tasks see it."""

    held: HeldStream
    exchange: Exchange
    credentials_gen: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    live: bool = False  # an upstream stream is being relayed now
    refused_by: Upstream | None = None  # the server that answered its subscription with an error
    silent_tries: int = 0  # subscriptions in a row that delivered nothing
    lost_at: float | None = None  # when the last upstream stream was lost
    upstream: UpstreamAnswer | None = None
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
        self.config = config
        self._credentials = credentials
        self._credentials_gen = 0
        self._clock = clock
        self._view = ServerView(State.STARTING, None)
        self._logins = BrowserLogins()
        self._changed: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: Listener | None = None
        self._client: UpstreamClient | None = None  # REST: a bounded pool
        self._streams_client: UpstreamClient | None = None  # streams: one connection each
        self._ticker: asyncio.Task[None] | None = None
        self._beats = asyncio.Event()  # set when a stream may need door heartbeats sooner
        self._streams: set[_Stream] = set()
        self._requests: dict[asyncio.Task[Any], int] = {}  # request task -> credentials gen
        self._asked: set[_Asked] = set()  # requests `_quick` forwarded, their answers awaited
        self._sockets: set[Tunnel] = set()
        self._url: str | None = None
        self._clients = 0  # request tasks at work (with `_asked`: the requests being answered)
        self._held = 0
        self._relayed = 0
        self._last_hold_s: float | None = None
        self._closing = False
        self._directories: dict[str, None] = {}  # the projects clients used, oldest first
        self._loading: Upstream | None = None  # the server whose projects are being loaded
        self._loaded_on: Upstream | None = None  # the server whose projects were loaded

    # -- what the app calls ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The public address clients use (after `start`)."""
        assert self._url is not None, "start the door first"
        return self._url

    async def start(self) -> str:
        self._loop = asyncio.get_running_loop()
        self._changed = self._loop.create_future()
        self._client = UpstreamClient(UPSTREAM_REQUESTS, UPSTREAM_KEEPALIVE_S, CONNECT_TIMEOUT_S)
        self._streams_client = UpstreamClient(0, UPSTREAM_KEEPALIVE_S, CONNECT_TIMEOUT_S)
        cfg = self.config
        # No access log: the app logs at INFO, and a line per request (formatted, redacted and
        # written on this thread after each answer) would be a cost on every request.
        self._listener = Listener(
            self._handle,
            self._quick,
            _unreadable,
            max_head_bytes=cfg.max_header_bytes,
            max_headers=cfg.max_headers,
        )
        port = await self._listener.start(cfg.host, cfg.port, backlog=1024)
        self._url = f"http://{cfg.host}:{port}"
        self._ticker = self._loop.create_task(self._tick(), name="front door heartbeats")
        log.info("front door listening on %s", self._url)
        return self._url

    def server_changed(self, seen: ServerView) -> None:
        """The server as the engine's latest status shows it (`seen.upstream`: its private
        address and per-start credentials, None while there is no server answering). Whether
        its projects are loaded is the door's to say."""
        upstream, state = seen.upstream, seen.state
        loaded = upstream is None or upstream == self._loaded_on
        version = seen.version or self._view.version
        view = replace(seen, version=version, loaded=loaded)
        if view == self._view:
            return
        ready = phase_of(state) is Phase.READY
        if upstream is not None and not loaded and ready and self._loading != upstream:
            self._loading = upstream
            self._spawn(self._load_projects(upstream))
        self._view = view
        for stream in list(self._streams):
            ended = stream.held.server_gone(view)
            if stream.upstream is not None and stream.held.bound_to != view.upstream:
                stream.upstream.close()  # a replaced server's stream says no more
            if ended:
                self._spawn(stream.write(b"".join(ended)))
            if view.phase is Phase.CLOSED:
                stream.ended.set()
        self._wake()
        self._beats.set()

    async def _load_projects(self, upstream: Upstream) -> None:
        """Ask the new server for the sessions of every project clients used (and of its own
        folder), and wait until every open stream relays it, so that no event of the requests
        released next is lost (the server drops the events of a request that loads a project,
        and of course those of a stream not yet open); then the server is ready for clients
        (`ServerView.loaded`). Half the hold limit at most: held requests still get through."""
        started = self._now()
        deadline = started + self.config.hold_limit_s / 2
        directories = ("", *self._directories)
        loaded = await asyncio.gather(
            *(self._load_project(upstream, d, deadline) for d in directories)
        )
        late = await self._streams_on(upstream, deadline)
        took = self._now() - started
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
        if self._view.upstream == upstream:
            self._loaded_on = upstream
            self.server_changed(self._view)  # now loaded: ready for clients

    async def _load_project(self, upstream: Upstream, directory: str, deadline: float) -> bool:
        """`GET /session` for `directory` ("": the server's folder). Any answer loads it; a
        request lost on the way is tried again until `deadline`."""
        assert self._client is not None
        target = V1.sessions_path(directory)
        headers = [(b"authorization", upstream.credentials.basic().encode())]
        while self._view.upstream == upstream:
            try:
                async with asyncio.timeout(max(deadline - self._now(), 0.1)):
                    answer = await self._client.request(upstream.url, "GET", target, headers)
                    try:
                        await answer.read()
                    finally:
                        answer.release()
                return True
            except (UpstreamError, TimeoutError) as error:
                if self._now() + SETTLE_S >= deadline:
                    where = directory or "the server's folder"
                    log.warning("front door: loading %s failed: %s", where, error)
                    return False
            await asyncio.sleep(SETTLE_S)
        return False  # that server is gone

    async def _streams_on(self, upstream: Upstream, deadline: float) -> int:
        """Until every open stream relays `upstream` (or was refused by it), or `deadline`;
        polled only while a server comes up. The number of streams still not on it then."""
        while self._view.upstream == upstream:
            late = [
                s
                for s in self._streams
                if not s.ended.is_set()
                and not (s.live and s.held.bound_to == upstream)
                and s.refused_by != upstream
            ]
            if not late or self._now() >= deadline:
                return len(late)
            await asyncio.sleep(SUBSCRIBE_POLL_S)
        return 0  # that server is gone

    def _remember_directory(self, request: Request) -> None:
        directory = _directory(request)
        if directory:
            self._directories.pop(directory, None)
            self._directories[directory] = None  # the newest last; the oldest go first
            while len(self._directories) > MAX_DIRECTORIES:
                del self._directories[next(iter(self._directories))]

    def set_hold_limit(self, seconds: float) -> None:
        """A new startup timeout: how long requests and streams that arrive from now on wait
        for a server."""
        self.config = replace(self.config, hold_limit_s=seconds)

    def set_credentials(self, credentials: Credentials) -> None:
        """New public credentials (a rotation): what the old ones let in ends now."""
        self._credentials = credentials
        self._credentials_gen += 1
        self._logins.revoke_all()
        for stream in list(self._streams):
            stream.ended.set()
        for task, gen in list(self._requests.items()):
            if gen < self._credentials_gen:
                task.cancel()
        for asked in list(self._asked):  # each is of an older generation now
            self._let_go(asked)
            asked.answer.close()
            asked.exchange.done()  # unanswered: its connection closes
        for tunnel in list(self._sockets):
            tunnel.close(POLICY_VIOLATION, "rotated")

    def login_url(self, target: str) -> str:
        """A one-time URL that signs a browser in and sends it on to `target` (a web app path or
        URL; any `auth_token` in it is dropped). Good for a few seconds, once."""
        token = self._logins.issue(target, self._clock())
        return f"{self.url}{LOGIN_PATH}/{token}"

    def stats(self) -> DoorStats:
        return DoorStats(
            url=self._url,
            clients=self._clients + len(self._asked),
            streams=len(self._streams),
            # Read on the app's thread (ThreadedFrontDoor) as the door's changes the set: a
            # copy first (made in one step), as a set changed while iterated over raises.
            streams_held=sum(1 for s in list(self._streams) if not s.live),
            requests_held=self._held,
            requests_relayed=self._relayed,
            last_hold_s=self._last_hold_s,
        )

    async def close(self) -> None:
        """Stop listening; held requests get 503, streams end cleanly. Once is enough."""
        if self._closing:
            return
        self._closing = True
        self.server_changed(ServerView(State.STOPPED, None, self._view.cause))
        for tunnel in list(self._sockets):
            tunnel.close(GOING_AWAY, "app quitting")
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)  # ended, not left pending
        if self._listener is not None:
            await self._listener.close()  # lets handlers end their streams
        for client in (self._client, self._streams_client):
            if client is not None:
                await client.close()

    # -- plumbing -------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock()

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        task.add_done_callback(_log_failure)

    def _wake(self) -> None:
        assert self._loop is not None
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = self._loop.create_future()

    async def _wait_change(self, until: float | None) -> None:
        """Until the next server change, or the monotonic time `until`."""
        assert self._changed is not None
        timeout = None if until is None else max(0.0, until - self._now())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):  # not wait_for: see `_tick`
                await asyncio.shield(self._changed)

    async def _tick(self) -> None:
        """Heartbeats for held streams, in the server's format. It wakes only when one is due
        (or something changed): an idle door with live streams costs no wakeups."""
        while True:
            self._beats.clear()
            now = self._now()
            due: list[float] = []
            for stream in list(self._streams):
                beat = stream.held.heartbeat_due(self._view, stream.live, now)
                if beat is not None:
                    self._spawn(stream.write(beat))
                if not (stream.live and self._view.phase is Phase.READY):
                    due.append(stream.held.next_heartbeat_at())
            timeout = max(0.0, min(due) - now) if due else None
            # Not wait_for: on Python 3.11 it swallows a cancellation that comes as the event is
            # set, and this loop then ran on and `close()` waited for it forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._beats.wait()

    # -- requests -------------------------------------------------------------------------------

    def _quick(self, exchange: Exchange) -> None:
        """A request without a body (the listener's `quick`). The common case, a request to be
        forwarded to a ready server with a pooled connection at hand, is answered with no task:
        sent at once, its answer written when the server's last byte is read
        (`_quick_answered`). A refusal is answered at once too. Anything else goes on in a task
        (`_handle`), as every request with a body does. (A task and its wakeups were a third
        of the door's time on the common request.)"""
        request = exchange.request
        gen = self._credentials_gen
        screened = self._screen(request)
        if isinstance(screened, Reply):
            exchange.answer(screened)
            exchange.done()
            return
        answer = None
        if screened == _FORWARD:
            now = self._now()
            pending = Pending(request.method, request.path, now, self.config.hold_limit_s)
            decision = decide_request(pending, self._view, now)
            if isinstance(decision, Forward):
                assert self._client is not None
                upstream = decision.upstream
                target, headers = self._upstream_request(request, upstream)
                answer = self._client.request_now(upstream.url, request.method, target, headers)
        if answer is None:  # anything but the common case: a task's
            exchange.handoff(self._handle(exchange, self._route(exchange, screened, gen)))
            return
        asked = _Asked(exchange, gen, pending, upstream, answer)
        answer.on_change = lambda: self._quick_answered(asked)
        self._asked.add(asked)

    def _let_go(self, asked: _Asked) -> None:
        """`_quick` no longer waits for the answer to `asked`."""
        asked.answer.on_change = None
        self._asked.discard(asked)

    def _quick_answered(self, asked: _Asked) -> None:
        try:
            self._quick_answer(asked)
        except Exception as error:  # in the server connection's callback: its caller knows not
            self._let_go(asked)
            asked.answer.close()
            asked.exchange.fail(error)

    def _quick_answer(self, asked: _Asked) -> None:
        """The server said more of its answer to a request `_quick` took: once it is whole, it
        is written; a large one, or a failure, goes on in a task (`_forward`)."""
        exchange, answer = asked.exchange, asked.answer
        error = answer.error
        length = answer.content_length
        small = length is not None and length <= QUICK_RESPONSE_BYTES
        if error is None and not answer.complete and (small or not answer.head_read):
            return  # more to come
        self._let_go(asked)
        if exchange.gone:
            answer.close()
            exchange.done()
        elif answer.complete:  # written first: what follows is done while the client reads
            headers = _response_headers(answer.headers)
            exchange.answer(Reply(answer.status, headers, answer.take(), answer.reason))
            answer.release()
            self._relayed += 1
            exchange.done()
        elif error is not None:
            answer.close()
            log.info("front door: %s %s: %s", exchange.request.method, exchange.request.path, error)
            failed = asked.pending.failed(asked.upstream, self._now(), str(error), error.connected)
            exchange.handoff(self._handle(exchange, self._forward(exchange, asked.gen, failed)))
        else:
            work = self._forward(exchange, asked.gen, asked.pending, (asked.upstream, answer))
            exchange.handoff(self._handle(exchange, work))

    async def _handle(
        self, exchange: Exchange, work: Coroutine[Any, Any, Reply | None] | None = None
    ) -> None:
        """A request's task: `work` (by default, all that `_admit` decides), then its answer."""
        self._clients += 1
        task = _this_task()
        try:
            reply = await (work if work is not None else self._admit(exchange))
            if reply is not None:
                await exchange.reply(reply)
        finally:
            self._clients -= 1
            self._requests.pop(task, None)

    def _screen(self, request: Request) -> Reply | StreamFormat | str:
        """The checks every request passes first: a refusal (or a sign-in's answer), or where
        it goes (an event stream's format, `_WEBSOCKET` or `_FORWARD`)."""
        assert self._listener is not None
        if len(self._listener.connections) > self.config.max_connections:
            return _refuse(too_many_connections(self.config.max_connections), close=True)
        if request.path.startswith(LOGIN_PATH + "/") and request.method == "GET":
            return self._login(request)
        needs = needs_credentials(request.method, request.path)
        if needs and not self._authenticated(request):
            return _refuse(unauthorized(), body=False)
        self._remember_directory(request)
        too_large = body_too_large(request.content_length, self.config.max_body_bytes)
        if too_large is not None:
            return _refuse(too_large, close=True)
        if (request.header("upgrade") or "").lower() == "websocket":
            return _WEBSOCKET
        return V1.stream_format(request.method, request.path) or _FORWARD

    async def _admit(self, exchange: Exchange) -> Reply | None:
        """The answer to send, or None once the request was answered."""
        gen = self._credentials_gen
        screened = self._screen(exchange.request)
        if isinstance(screened, Reply):
            return screened
        return await self._route(exchange, screened, gen)

    async def _route(
        self, exchange: Exchange, screened: StreamFormat | str, gen: int
    ) -> Reply | None:
        """A request that passed its checks (`_screen`), where they sent it."""
        if screened == _WEBSOCKET:
            self._requests[_this_task()] = gen  # ended by a rotation
            return await self._websocket(exchange)
        if isinstance(screened, StreamFormat):
            await self._stream(exchange, screened, gen)
            return None
        return await self._forward(exchange, gen)

    def _authenticated(self, request: Request) -> bool:
        authorization = request.header("authorization")
        if authorization is not None and check_basic(authorization, self._credentials):
            return True  # the usual case, without reading the query and the cookies
        kind = authenticate(
            authorization,
            request.query.get("auth_token"),
            request.cookies.get(COOKIE_NAME),
            self._credentials,
            self._logins,
        )
        return kind is not None

    def _login(self, request: Request) -> Reply:
        token = request.path[len(LOGIN_PATH) + 1 :]
        redeemed = self._logins.redeem(token, self._now())
        if redeemed is None:
            return _refuse(
                Refuse(
                    403,
                    "LoginExpired",
                    "this sign-in link was used already or has expired: use Open in browser "
                    "in the tray menu again",
                )
            )
        cookie, target = redeemed
        return Reply(
            303,
            [
                (b"location", target.encode()),
                (b"set-cookie", cookie_header(cookie).encode()),
                (b"cache-control", b"no-store"),
                (b"referrer-policy", b"no-referrer"),
            ],
        )

    async def _decide(self, pending: Pending) -> Forward | Refuse | Answer:
        """Hold until the core says forward, refuse or answer."""
        held_since: float | None = None
        try:
            while True:
                decision = decide_request(pending, self._view, self._now())
                if not isinstance(decision, Hold):
                    if held_since is not None and isinstance(decision, Forward):
                        self._last_hold_s = self._now() - held_since
                    return decision
                if held_since is None:
                    if self._held >= self.config.max_held_requests:
                        limit = self.config.max_held_requests
                        return unavailable(
                            self._view, f"{limit} requests are waiting already, this one was not"
                        )
                    held_since = self._now()
                    self._held += 1
                await self._wait_change(decision.until)
        finally:
            if held_since is not None:
                self._held -= 1

    async def _forward(
        self,
        exchange: Exchange,
        gen: int,
        pending: Pending | None = None,
        asked: tuple[Upstream, UpstreamAnswer] | None = None,
    ) -> Reply | None:
        """Forward the request, holding it and trying again as the core decides. `pending`:
        how it went so far; `asked`: the server asked already, and its answer (`_quick`'s)."""
        if gen < self._credentials_gen:
            raise ClientGone("the credentials it came with were rotated")
        self._requests[_this_task()] = gen  # ended by a rotation
        request = exchange.request
        if pending is None:
            pending = Pending(request.method, request.path, self._now(), self.config.hold_limit_s)
        while True:
            if asked is not None:
                (upstream, answer), asked = asked, None
                sent = self._answer_with(exchange, answer)
            else:
                decision = await self._decide(pending)
                if isinstance(decision, Refuse):
                    return _refuse(decision)
                if isinstance(decision, Answer):
                    return Reply(decision.status, JSON, decision.body)
                upstream = decision.upstream
                sent = self._send(exchange, upstream)
            try:
                reply = await sent
            except _Cutoff as cutoff:
                log.info("front door: %s %s: %s", request.method, request.path, cutoff)
                pending = pending.failed(upstream, self._now(), str(cutoff), cutoff.sent)
                continue
            self._relayed += 1
            return reply

    def _upstream_request(self, request: Request, upstream: Upstream) -> tuple[str, Headers]:
        """The target and headers to send the server for `request`."""
        headers: Headers = []
        for name, value in request.headers:
            lower = name.lower()
            if lower in NOT_FORWARDED:
                continue
            kept = _without_cookie(value) if lower == b"cookie" else value
            if kept:
                headers.append((name, kept))
        headers.append((b"authorization", upstream.credentials.basic().encode()))
        if request.header("transfer-encoding") is not None:
            headers.append((b"transfer-encoding", b"chunked"))  # llhttp reads it unchunked
        path, _, query = request.raw_path.partition("?")
        query = strip_query(query, ("auth_token",))  # returns at once when there is none
        return path + (f"?{query}" if query else ""), headers

    async def _send(self, exchange: Exchange, upstream: Upstream) -> Reply | None:
        """The server's answer: whole if small (None: it was streamed to the client)."""
        assert self._client is not None
        request = exchange.request
        target, headers = self._upstream_request(request, upstream)
        body = exchange.body() if request.body_exists else None
        try:
            answer = await self._client.request(
                upstream.url, request.method, target, headers, body=body
            )
        except UpstreamError as error:
            raise _Cutoff(str(error), sent=error.connected) from error
        return await self._answer_with(exchange, answer)

    async def _answer_with(self, exchange: Exchange, answer: UpstreamAnswer) -> Reply | None:
        """The server's `answer` (its head read): whole if small (None: it was streamed)."""
        try:
            headers = _response_headers(answer.headers)
            length = answer.content_length
            if length is not None and length <= BUFFER_RESPONSE_BYTES:
                return Reply(answer.status, headers, await answer.read(), answer.reason)
            first = await answer.readany()
            await exchange.start(answer.status, headers, answer.reason)
            await self._pipe(exchange, answer, first)
            return None
        except UpstreamError as error:
            raise _Cutoff(str(error), sent=True) from error
        finally:
            answer.release()

    async def _pipe(self, exchange: Exchange, answer: UpstreamAnswer, first: bytes) -> None:
        """Stream the rest of a large body; a break now can only cut the client off."""
        try:
            chunk = first
            while chunk:
                await exchange.write(chunk)
                chunk = await answer.readany()
            await exchange.end()
        except UpstreamError as error:
            request = exchange.request
            log.warning(
                "front door: %s %s cut off mid-body: %s", request.method, request.path, error
            )
            raise ClientGone("cut off mid-body") from error  # the connection closes

    # -- event streams --------------------------------------------------------------------------

    async def _stream(self, exchange: Exchange, fmt: StreamFormat, gen: int) -> None:
        await exchange.start(200, SSE_HEADERS)
        held = HeldStream(fmt, _directory(exchange.request))
        held.last_sent_at = self._now()  # the first heartbeat is due 10 s from now
        stream = _Stream(held, exchange, gen)
        self._streams.add(stream)
        self._beats.set()
        try:
            await self._relay(exchange.request, stream)
            if not stream.broken:
                async with stream.lock:
                    with contextlib.suppress(ConnectionError):
                        await exchange.end()
        finally:
            self._streams.discard(stream)

    async def _relay(self, request: Request, stream: _Stream) -> None:
        """Relay upstream streams one after another until the stream ends."""
        splitter = EventSplitter()
        while not stream.ended.is_set() and not self._closing:
            view = self._view
            if view.phase is Phase.CLOSED:
                return
            # Streams subscribe to a new server at once; requests wait until its projects are
            # loaded and the streams are on it (`_load_projects`).
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
                    stream.lost_at = self._now()
                    self._beats.set()
                await stream.write(splitter.reset())
            if self._view.upstream == upstream and phase_of(self._view.state) is Phase.READY:
                await self._until_change_or_end(stream, self._now() + SETTLE_S)

    async def _subscribe(
        self,
        request: Request,
        stream: _Stream,
        upstream: Upstream,
        splitter: EventSplitter,
    ) -> None:
        """One subscription to `upstream`, relayed until it ends, breaks or stays silent."""
        assert self._streams_client is not None
        target, headers = self._upstream_request(request, upstream)
        within = first_event_within(stream.silent_tries)
        first_event = asyncio.timeout(within)
        answer: UpstreamAnswer | None = None
        try:
            async with first_event:
                answer = await self._streams_client.request(
                    upstream.url, "GET", target, headers, read_timeout_s=STREAM_READ_TIMEOUT_S
                )
                if answer.status != 200:
                    stream.refused_by = upstream
                    raise _Cutoff(f"the server answered {answer.status}", sent=True)
                stream.upstream = answer
                stream.held.subscribed(upstream)
                first = await answer.readany()
                first_event.reschedule(None)
            stream.silent_tries = 0
            await self._relay_one(stream, answer, splitter, first)
        except (UpstreamError, TimeoutError, _Cutoff) as error:
            why = repr(error)
            if first_event.expired():
                stream.silent_tries += 1
                why = f"no first event within {within:.0f} s"
            log.debug("front door: stream %s lost: %s", request.path, why)
        finally:
            if answer is not None:
                answer.close()  # a stream's connection is not used again

    async def _relay_one(
        self,
        stream: _Stream,
        answer: UpstreamAnswer,
        splitter: EventSplitter,
        chunk: bytes,
    ) -> None:
        """Relay `chunk`, the first read of `answer`, and the rest of it (each read is all that
        arrived: one write for all)."""
        while chunk:
            now = self._now()
            if not stream.live:
                stream.live = True
                if stream.lost_at is not None:
                    self._last_hold_s = now - stream.lost_at
                    log.debug("front door: a stream is live again after %.1f s", self._last_hold_s)
            block = splitter.feed(chunk)
            if block:
                await stream.write(b"".join(stream.held.relay(block, now)))
            if stream.ended.is_set():
                return
            chunk = await answer.readany()

    async def _until_change_or_end(self, stream: _Stream, until: float | None) -> None:
        """Until the next server change after the caller looked (the future is taken now, not
        when a task starts: a change in between must wake it), the stream's end, or `until`."""
        assert self._changed is not None
        changed = self._changed
        ended: asyncio.Future[Any] = asyncio.ensure_future(stream.ended.wait())
        timeout = None if until is None else max(0.0, until - self._now())
        waits: list[asyncio.Future[Any]] = [ended, asyncio.shield(changed)]
        try:
            await asyncio.wait(
                waits,
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            ended.cancel()

    # -- WebSocket (the web app's terminal) -----------------------------------------------------

    async def _websocket(self, exchange: Exchange) -> Reply | None:
        from tray.frontdoor import websocket  # noqa: PLC0415  (wsproto: only when used)

        request = exchange.request
        key = request.header("sec-websocket-key")
        if key is None:
            return _refuse(Refuse(400, "BadRequest", "a WebSocket upgrade needs Sec-WebSocket-Key"))
        pending = Pending(request.method, request.path, self._now(), self.config.hold_limit_s)
        decision = await self._decide(pending)
        if isinstance(decision, Refuse):
            return _refuse(decision)
        if isinstance(decision, Answer):
            return Reply(decision.status, JSON, decision.body)
        target, headers = self._upstream_request(request, decision.upstream)
        headers = [(n, v) for n, v in headers if n.lower() not in WEBSOCKET_HANDSHAKE]
        offered = request.header("sec-websocket-protocol") or ""
        protocols = [p.strip() for p in offered.split(",") if p.strip()]
        try:
            upstream, chosen = await websocket.open_upstream(
                address_of(decision.upstream.url), target, headers, protocols, CONNECT_TIMEOUT_S
            )
        except websocket.Refused as refused:
            return _refuse(Refuse(refused.status, "UpgradeFailed", str(refused)))
        except UpstreamError as error:
            return _refuse(unavailable(self._view, f"the terminal connection failed ({error})"))
        client = await exchange.switch(websocket.accept_headers(key, chosen))
        tunnel = websocket.Tunnel.to_client(client, upstream)
        self._sockets.add(tunnel)
        try:
            await tunnel.run()
        finally:
            self._sockets.discard(tunnel)
        return None


def _this_task() -> asyncio.Task[Any]:
    task = asyncio.current_task()
    assert task is not None
    return task


def _directory(request: Request) -> str | None:
    return request.query.get("directory") or request.header("x-opencode-directory")


def _response_headers(headers: Headers) -> Headers:
    return [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP]


def _without_cookie(header: bytes) -> bytes:
    """A `Cookie` header without the door's own session cookie."""
    own = COOKIE_NAME.encode() + b"="
    kept = [part.strip() for part in header.split(b";")]
    return b"; ".join(part for part in kept if part and not part.startswith(own))


def _refuse(refusal: Refuse, body: bool = True, close: bool = False) -> Reply:
    headers = [(k.lower().encode(), v.encode()) for k, v in refusal.headers]
    if close:
        headers.append((b"connection", b"close"))
    if not body:
        return Reply(refusal.status, headers)
    return Reply(refusal.status, [*headers, *JSON], refusal.body())


def _unreadable(status: int, why: str) -> Reply:
    """The answer to a request the listener could not read (or that failed in the door)."""
    return _refuse(Refuse(status, "BadRequest" if status < 500 else "FrontDoorError", why))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("front door task failed", exc_info=task.exception())
