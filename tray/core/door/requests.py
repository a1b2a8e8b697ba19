"""What the door does with a client's request: forward it, hold it or refuse it (again after each
server change), with the time passed in."""

from __future__ import annotations

from dataclasses import dataclass

from tray.core.door.errors import Refuse, unavailable
from tray.core.door.phases import Phase, ServerView, Upstream
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
IDEMPOTENT = frozenset({"GET", "HEAD"})


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
