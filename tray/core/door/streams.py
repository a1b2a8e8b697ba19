"""A client's event stream held through the door, across servers: what to write to it (the
server's own events, heartbeats in its format while it is away, the events that tell a client
to resync, the end of turns a crash killed). The server's body reaches it cut into whole events
by `tray.core.sse.EventSplitter`."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from tray.core.door.errors import why
from tray.core.door.phases import Phase, ServerView, Upstream
from tray.generations.events import Scope, SessionBusy, SessionDeleted, SessionIdle, StreamFormat
from tray.generations.generation import Generation
from tray.generations.v1 import V1

# The server beats every 10 s; the door beats as often while it holds a stream.
HEARTBEAT_S = 10.0
# An upstream stream silent this long is dead: subscribe again.
STREAM_SILENCE_S = 3 * HEARTBEAT_S
# A server answers a subscription with `server.connected` at once; one silent this long after
# it was made (seen under load, for over a minute) is made again.
FIRST_EVENT_S = 5.0


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
        `tray.core.sse.EventSplitter` gives them (the resync goes right after the first of them)."""
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
        return self.turns.end_turns(why(view), self.token)

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
