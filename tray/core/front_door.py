"""The front door's decisions: what to do with a request or an event stream in each server state.

The front door owns the public address and forwards to the real server on a private port. This
module holds no sockets and reads no clock: the adapter (`tray/frontdoor/`) asks it, with the
time passed in, whether to forward, hold or refuse a request, what to send a held event stream
(heartbeats in the server's own format, the events that tell a client to resync, the end of turns
a crash killed), and whether a caller's credentials or browser cookie are good.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tray.core.causes import Cause
from tray.core.status import State
from tray.generations.events import Scope, SessionBusy, SessionDeleted, SessionIdle, StreamFormat
from tray.generations.generation import Generation
from tray.generations.v1 import V1

# How long a request waits for a server that is down or starting (the startup timeout rules;
# this is the default when none is given).
HOLD_LIMIT_S = 60.0
# The web app gives up on `/global/health` after 5 s and falls back to another stream: answer
# before that when the server is not back yet.
HEALTH_HOLD_S = 4.0
# After a request failed on a server that still looks ready, wait this long for the status to
# say what happened before retrying it on the same server (or answering 503 with the cause).
SETTLE_S = 1.0
# The server beats every 10 s; the door beats as often while it holds a stream.
HEARTBEAT_S = 10.0
# An upstream stream silent this long is dead: subscribe again.
STREAM_SILENCE_S = 3 * HEARTBEAT_S
# A server answers a subscription with `server.connected` at once; one silent this long after
# it was made (seen under load, for over a minute) is made again.
FIRST_EVENT_S = 5.0
# A one-time browser login URL is good for this long, and once.
LOGIN_TTL_S = 30.0
LOGIN_PATH = "/.opencode-tray/login"
COOKIE_NAME = "opencode_tray_session"
IDEMPOTENT = frozenset({"GET", "HEAD"})


class Phase(Enum):
    """What the door does with traffic, from the supervisor's state."""

    READY = "ready"  # forward
    RECOVERING = "recovering"  # hold until ready (or a deadline)
    CLOSED = "closed"  # failed or stopped: refuse, end streams


_PHASES = {
    State.CONNECTED: Phase.READY,
    State.RECONNECTING: Phase.READY,  # the server answers; only the app's own stream dropped
    State.STARTING: Phase.RECOVERING,
    State.STALLED: Phase.RECOVERING,  # maybe frozen: do not pile requests into it
    State.CRASHED: Phase.RECOVERING,
    State.FAILED: Phase.CLOSED,
    State.STOPPED: Phase.CLOSED,
}


def phase_of(state: State) -> Phase:
    return _PHASES[state]


@dataclass(frozen=True)
class Credentials:
    """A username and password; the repr never shows the password."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r})"

    def basic(self) -> str:
        """The value of an `Authorization` header for these credentials."""
        return self._basic

    @cached_property
    def _basic(self) -> str:  # once: the door sends and checks it on every request
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def matches(self, username: str, password: str) -> bool:
        """Constant-time comparison of both parts (no early exit on the username)."""
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok & password_ok


@dataclass(frozen=True)
class Upstream:
    """One start of the private server: where it listens and the password only the door knows.
    A new start has a new port and password, so two starts never compare equal."""

    url: str
    credentials: Credentials


@dataclass(frozen=True)
class ServerView:
    """What the door knows about the server: pushed by the engine's status."""

    state: State
    upstream: Upstream | None
    cause: Cause | None = None
    version: str | None = None
    # The projects clients used are loaded on this server. A server loads a project at its first
    # request for it, and the events of that request never reach `/global/event`
    # (tests/clients/FINDINGS.md): until the door has loaded them, a new server is not ready.
    loaded: bool = True

    @property
    def phase(self) -> Phase:
        ready = phase_of(self.state) is Phase.READY
        if ready and (self.upstream is None or not self.loaded):
            return Phase.RECOVERING
        return phase_of(self.state)


# -- errors in the server's shape ------------------------------------------------------------------


@dataclass(frozen=True)
class Refuse:
    """Answer the client with this status and JSON body (the server's error shape)."""

    status: int
    name: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()

    def body(self) -> bytes:
        return json.dumps({"name": self.name, "data": {"message": self.message}}).encode()


def doing(view: ServerView) -> str:
    """What the app is doing about the server, for an error message."""
    match view.state:
        case State.FAILED:
            return "the app gave up restarting it; restart it from the tray menu"
        case State.STOPPED:
            return "it was stopped from the tray; start it from the tray menu"
        case State.STALLED:
            return "it stopped answering; the app restarts it if it stays silent"
        case State.CONNECTED | State.RECONNECTING:
            return "the app is checking on it"
        case _:
            return "the app is restarting it"


def _why(view: ServerView) -> str:
    return view.cause.text if view.cause is not None else f"the server is {view.state.value}"


def unavailable(view: ServerView, what: str) -> Refuse:
    """503: the server cannot take `what` now, why, and what the app does about it."""
    why = f" ({view.cause.text})" if view.cause is not None else ""
    if view.cause is None and phase_of(view.state) is not Phase.READY:
        why = f" (the server is {view.state.value})"
    return Refuse(
        503,
        "ServerUnavailableError",
        f"opencode server unavailable{why}: {what}; {doing(view)}.",
        (("retry-after", "1"),),
    )


def unauthorized() -> Refuse:
    """What the server itself answers to a wrong password."""
    return Refuse(
        401,
        "UnauthorizedError",
        "Wrong username or password.",
        (("www-authenticate", 'Basic realm="Secure Area"'),),
    )


def too_many_connections(limit: int) -> Refuse:
    return Refuse(503, "TooManyConnections", f"the front door takes {limit} connections")


def body_too_large(length: int | None, limit: int) -> Refuse | None:
    """The answer to a request whose declared body is over `limit` bytes, or None."""
    if length is None or length <= limit:
        return None
    return Refuse(
        413,
        "PayloadTooLarge",
        f"request body of {length} bytes; the front door takes {limit} bytes at most",
    )


# -- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forward:
    upstream: Upstream


@dataclass(frozen=True)
class Hold:
    """Wait for the next server change, or until `until` (then ask again)."""

    until: float


@dataclass(frozen=True)
class Answer:
    """Answer from the door itself (the health probe while the server is away)."""

    status: int
    body: bytes


RequestDecision = Forward | Hold | Refuse | Answer


@dataclass(frozen=True)
class Pending:
    """One client request the door is deciding on. Times are monotonic seconds."""

    method: str
    path: str
    arrived_at: float
    hold_limit_s: float = HOLD_LIMIT_S
    tries: int = 0  # forwards that failed
    failed_on: Upstream | None = None
    failed_at: float | None = None
    failure: str | None = None  # what went wrong on the last try
    sent: bool = True  # the last try reached the server (False: it could not connect)

    @property
    def idempotent(self) -> bool:
        return self.method.upper() in IDEMPOTENT

    def failed(self, upstream: Upstream, now: float, failure: str, sent: bool) -> Pending:
        return Pending(
            self.method,
            self.path,
            self.arrived_at,
            self.hold_limit_s,
            self.tries + 1,
            upstream,
            now,
            failure,
            sent,
        )


def is_health_probe(method: str, path: str, server: Generation = V1) -> bool:
    return method.upper() in IDEMPOTENT and path == server.health_path


def health_answer(view: ServerView, server: Generation = V1) -> Answer:
    """The door answers the web app's probe for the server it stands in for, so the app keeps
    its event stream (which the door holds) instead of falling back."""
    return Answer(200, server.health_body(view.version))


def decide_request(pending: Pending, view: ServerView, now: float) -> RequestDecision:
    """Forward, hold or refuse a client's request (again after each server change)."""
    phase = view.phase
    if phase is Phase.CLOSED:
        return unavailable(view, f"{pending.method} {pending.path} was not sent")
    if pending.tries:
        return _after_failure(pending, view, now)
    if phase is Phase.READY:
        assert view.upstream is not None
        return Forward(view.upstream)
    deadline = pending.arrived_at + pending.hold_limit_s
    if is_health_probe(pending.method, pending.path):
        health_deadline = pending.arrived_at + HEALTH_HOLD_S
        return health_answer(view) if now >= health_deadline else Hold(health_deadline)
    if now >= deadline:
        return unavailable(
            view, f"not ready within {pending.hold_limit_s:.0f} s, the request was not sent"
        )
    return Hold(deadline)


def _after_failure(pending: Pending, view: ServerView, now: float) -> RequestDecision:
    """A forward failed: retry an idempotent (or unsent) request once, otherwise 503 with the
    cause, waiting up to `SETTLE_S` for the status to say what happened to the server."""
    assert pending.failed_at is not None
    # One that never reached the server is retried until the hold limit: it cannot have run.
    retriable = not pending.sent or (pending.tries == 1 and pending.idempotent)
    settled = now >= pending.failed_at + SETTLE_S
    same_server = view.upstream is not None and view.upstream == pending.failed_on
    phase = view.phase
    if not retriable:
        if same_server and phase is Phase.READY and not settled:
            return Hold(pending.failed_at + SETTLE_S)
        what = f"{pending.method} {pending.path} was cut off ({pending.failure})"
        return unavailable(view, what)
    if phase is Phase.READY and (not same_server or settled):
        assert view.upstream is not None
        return Forward(view.upstream)
    deadline = pending.failed_at + pending.hold_limit_s
    if now >= deadline:
        return unavailable(view, f"{pending.method} {pending.path} failed and the retry timed out")
    if phase is Phase.READY:
        return Hold(pending.failed_at + SETTLE_S)
    return Hold(deadline)


# -- event streams ---------------------------------------------------------------------------------


def _event_id(token: Callable[[int], str]) -> str:
    return f"evt_{token(13)}"


def _events(block: bytes) -> list[bytes]:
    """The events of a block of whole events, each with its blank line."""
    parts = block.split(b"\n\n")
    return [part + b"\n\n" for part in parts[:-1]]


def sse_data(raw: bytes) -> bytes:
    """The data of one SSE event (b"" for a comment)."""
    return b"".join(line[5:].lstrip(b" ") for line in raw.split(b"\n") if line.startswith(b"data:"))


@dataclass
class TurnTracker:
    """The sessions busy on one stream, from the events relayed on it, so that the door can
    end, on that stream, the turns that a dead server can no longer end."""

    fmt: StreamFormat
    server: Generation = V1
    busy: dict[str, Scope] = field(default_factory=dict)

    def observe(self, block: bytes) -> None:
        """What the events in `block` (whole events, one or many) say of busy sessions."""
        markers = self.server.turn_end_markers  # the cheap test before decoding JSON
        if any(marker in block for marker in markers):  # one scan for a whole block
            for raw in _events(block):
                if any(marker in raw for marker in markers):
                    self._observe_one(raw)

    def _observe_one(self, raw: bytes) -> None:
        data = sse_data(raw)
        decoded = self.server.decode(self.fmt, data) if data else None
        if decoded is None:
            return
        match decoded:
            case SessionBusy(session), scope:
                self.busy[session] = scope
            case SessionIdle(session), _:
                self.busy.pop(session, None)
            case SessionDeleted(deleted, session), _:
                self.busy.pop(deleted if session is None else session, None)

    def end_turns(self, cause_text: str, token: Callable[[int], str]) -> list[bytes]:
        """The events the server sends at the end of a failed turn, for every busy session."""
        message = f"The opencode server stopped during this turn ({cause_text}); the turn ended."
        out: list[bytes] = []
        for session, scope in self.busy.items():
            out += self.server.turn_end(self.fmt, session, scope, message, lambda: _event_id(token))
        self.busy.clear()
        return out


@dataclass
class HeldStream:
    """One client's event stream through the door, across servers.

    The adapter reports what happens upstream; this says what to write to the client. After a
    new server's stream delivers its first event (its `server.connected`, so the server answers
    requests again), a `/global/event` client is told to resync with `server.instance.disposed`:
    the event on which the TUI (and the web app, for that directory) re-bootstraps. The web app
    already re-bootstraps on the new server's `server.connected`, which is relayed as it is.
    """

    fmt: StreamFormat
    directory: str | None  # from `?directory=` or `x-opencode-directory`; None: the server's
    token: Callable[[int], str] = field(default=secrets.token_urlsafe)
    server: Generation = V1  # what the server speaks
    bound_to: Upstream | None = None  # the server whose stream is relayed now
    served_before: bool = False  # a previous server's events reached this client
    resync_due: bool = False
    last_sent_at: float = 0.0
    turns: TurnTracker = field(init=False)

    def __post_init__(self) -> None:
        self.turns = TurnTracker(self.fmt, self.server)

    def subscribed(self, upstream: Upstream) -> None:
        """A new upstream subscription for this stream is open (a resync still due, because
        the last one delivered nothing, stays due)."""
        self.resync_due = self.resync_due or (self.served_before and upstream != self.bound_to)
        self.bound_to = upstream

    def relay(self, block: bytes, now: float) -> list[bytes]:
        """What to write for `block`: whole events from upstream, one or many, as
        `EventSplitter` gives them (the resync goes right after the first of them)."""
        self.turns.observe(block)
        self.served_before = True
        self.last_sent_at = now
        first_end = block.find(b"\n\n") + 2 if self.resync_due else 0
        if first_end <= 1:  # no resync due, or not a whole event (a piece of an oversized one)
            return [block]
        self.resync_due = False
        rest = block[first_end:]
        return [block[:first_end], *self.resync_events(), *([rest] if rest else [])]

    def resync_events(self) -> list[bytes]:
        return self.server.resync(self.fmt, self.directory, _event_id(self.token))

    def server_gone(self, view: ServerView) -> list[bytes]:
        """The server this stream was bound to is gone (or replaced): end its busy turns."""
        if self.bound_to is None or view.upstream == self.bound_to:
            return []
        return self.turns.end_turns(_why(view), self.token)

    def heartbeat_due(self, view: ServerView, upstream_live: bool, now: float) -> bytes | None:
        """A door heartbeat while the server is away or its stream is not live (a frozen server
        sends none); None while the server's own heartbeats flow."""
        if upstream_live and view.phase is Phase.READY:
            return None
        if now - self.last_sent_at < HEARTBEAT_S:
            return None
        self.last_sent_at = now
        return self.server.heartbeat(self.fmt, _event_id(self.token))

    def next_heartbeat_at(self) -> float:
        return self.last_sent_at + HEARTBEAT_S


def first_event_within(silent_tries: int) -> float:
    """How long a subscription may take to deliver its first event, after `silent_tries` that
    delivered none: longer each time (a slow server is not subscribed to in a tight loop), at
    most the silence that ends a live stream."""
    return float(min(FIRST_EVENT_S * 2**silent_tries, STREAM_SILENCE_S))


class EventSplitter:
    """Cuts an SSE body at its last whole event (ending with a blank line), so that the door only
    ever writes whole events and can put its own between them. Each chunk gives all the whole
    events it completes in one block (a burst costs a few scans per chunk, not work per event).
    An event longer than `limit` bytes is passed on in pieces as it arrives (nothing may be
    inserted until it ends)."""

    def __init__(self, limit: int = 16 * 1024 * 1024) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self.inside_oversized = False

    def feed(self, chunk: bytes) -> bytes:
        """The whole events completed by `chunk`, as one block (b"": none yet)."""
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        if not self._buffer and chunk.endswith(b"\n\n"):  # the usual case: no copy
            self.inside_oversized = False
            return chunk
        self._buffer += chunk
        end = self._buffer.rfind(b"\n\n") + 2
        if end > 1:
            block = bytes(self._buffer[:end])
            del self._buffer[:end]
            self.inside_oversized = False
        else:
            block = b""
        if len(self._buffer) > self.limit:
            block += bytes(self._buffer)
            self._buffer.clear()
            self.inside_oversized = True
        return block

    def reset(self) -> bytes:
        """A new upstream: drop a half-received event; what to write to end an oversized one
        that was partly passed on."""
        self._buffer.clear()
        ended = b"\n\n" if self.inside_oversized else b""
        self.inside_oversized = False
        return ended


# -- credentials and the browser's one-time login ------------------------------------------------


class AuthKind(Enum):
    BASIC = "basic"
    TOKEN = "auth_token"
    COOKIE = "cookie"


def _basic_parts(value: str) -> tuple[str, str] | None:
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def check_basic(header: str | None, credentials: Credentials) -> bool:
    if not header:
        return False
    # The usual case, the exact header these credentials make, without decoding it. (A username
    # with a colon never matches: decoded, it splits at its own colon.)
    if ":" not in credentials.username and hmac.compare_digest(
        header.encode(), credentials.basic().encode()
    ):
        return True
    parts = _basic_parts(header)
    return parts is not None and credentials.matches(*parts)


def check_auth_token(token: str | None, credentials: Credentials) -> bool:
    """The server's `?auth_token=`: base64 of 'user:password'."""
    parts = _basic_parts(f"Basic {token}") if token else None
    return parts is not None and credentials.matches(*parts)


def strip_query(query: str, names: Iterable[str]) -> str:
    """The query string without the parameters `names` (the door's credentials)."""
    drop = set(names)
    if "%" not in query and not any(name in query for name in drop):
        return query  # none of them, even percent-encoded: no need to parse it
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name in drop for name, _ in pairs):
        return query
    return urlencode([(k, v) for k, v in pairs if k not in drop])


def login_target(url_or_path: str) -> str:
    """The path (and query, less `auth_token`) a browser login redirects to; only this origin."""
    parts = urlsplit(url_or_path)
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    query = strip_query(parts.query, ("auth_token",))
    path = "/" + path.lstrip("/")  # never `//host`: a redirect stays on the door's origin
    return f"{path}?{query}" if query else path


@dataclass(frozen=True)
class Login:
    target: str
    expires_at: float


class BrowserLogins:
    """One-time login URLs for the browser and the session cookies they turn into.

    A login token is random, good for `LOGIN_TTL_S` seconds and once; redeeming it gives a new
    random cookie value that the door accepts until the credentials rotate or the app quits."""

    def __init__(self, token: Callable[[int], str] = secrets.token_urlsafe) -> None:
        self._token = token
        self._logins: dict[str, Login] = {}
        self._sessions: set[str] = set()

    def issue(self, target: str, now: float) -> str:
        self._expire(now)
        token = self._token(32)
        self._logins[token] = Login(login_target(target), now + LOGIN_TTL_S)
        return token

    def redeem(self, token: str, now: float) -> tuple[str, str] | None:
        """(cookie value, where to redirect) for a good token, which is then used up."""
        self._expire(now)
        found = next((t for t in self._logins if hmac.compare_digest(t, token)), None)
        if found is None:
            return None
        login = self._logins.pop(found)
        cookie = self._token(32)
        self._sessions.add(cookie)
        return cookie, login.target

    def valid(self, cookie: str | None) -> bool:
        if not cookie:
            return False
        return any(hmac.compare_digest(cookie, known) for known in self._sessions)

    def revoke_all(self) -> None:
        self._logins.clear()
        self._sessions.clear()

    def pending(self) -> int:
        return len(self._logins)

    def _expire(self, now: float) -> None:
        for token in [t for t, login in self._logins.items() if login.expires_at <= now]:
            del self._logins[token]


def cookie_header(value: str) -> str:
    """The `Set-Cookie` for a browser session: HttpOnly, SameSite=Strict, this origin only."""
    return f"{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict"


# What a browser fetches without credentials, by the spec: the page's `<link rel="manifest">`
# (no `crossorigin="use-credentials"`). A static file of the web app, the same for everyone.
CREDENTIAL_FREE = frozenset({"/site.webmanifest"})


def needs_credentials(method: str, path: str) -> bool:
    return not (method in IDEMPOTENT and path in CREDENTIAL_FREE)


def authenticate(
    authorization: str | None,
    auth_token: str | None,
    cookie: str | None,
    credentials: Credentials,
    logins: BrowserLogins,
) -> AuthKind | None:
    """How the caller proved who it is, or None (401). Each present proof is checked."""
    if authorization and check_basic(authorization, credentials):
        return AuthKind.BASIC
    if auth_token and check_auth_token(auth_token, credentials):
        return AuthKind.TOKEN
    if cookie and logins.valid(cookie):
        return AuthKind.COOKIE
    return None


# -- what the door reports -------------------------------------------------------------------------


@dataclass(frozen=True)
class DoorStats:
    """The front door's counters, for `status --json`."""

    url: str | None = None
    clients: int = 0  # requests and streams open now
    streams: int = 0  # event streams open now
    streams_held: int = 0  # of those, waiting for a server
    requests_held: int = 0
    requests_relayed: int = 0
    last_hold_s: float | None = None  # the last time requests or streams waited for a server

    def to_json(self, enabled: bool) -> dict[str, Any]:
        return {
            "enabled": enabled,
            "url": self.url,
            "clients": self.clients,
            "streams": self.streams,
            "streams_held": self.streams_held,
            "requests_held": self.requests_held,
            "requests_relayed": self.requests_relayed,
            "last_hold_s": None if self.last_hold_s is None else round(self.last_hold_s, 2),
        }
