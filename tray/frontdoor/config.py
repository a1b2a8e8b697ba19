"""The front door's configuration: where it listens, its bounds, and how long it waits."""

from __future__ import annotations

from dataclasses import dataclass, field

from tray.core.door.requests import HOLD_LIMIT_S
from tray.core.door.streams import STREAM_SILENCE_S


@dataclass(frozen=True)
class ListenerTimings:
    """How long the public listener waits for what."""

    # A connection waiting for its next request (or for the rest of a request's head) is
    # closed after this long, as most servers do.
    idle_s: float = 75.0
    # On close: how long handlers get to answer (held requests get their 503, streams end).
    close_grace_s: float = 5.0
    # A client that closes its side while its request is at work this long is gone.
    watch_after_s: float = 0.05
    # How often a client not being read is looked for (`sockets.hung_up`).
    hangup_poll_s: float = 0.5


@dataclass(frozen=True)
class DoorTimings:
    """How long the door waits for what."""

    # An upstream stream that says nothing for this long is lost (the server sends a heartbeat
    # every 10 s).
    stream_read_timeout_s: float = STREAM_SILENCE_S
    # Below the server's (Bun's) idle timeout of 10 s, so a pooled connection is never one it
    # has just closed.
    upstream_keepalive_s: float = 4.0
    connect_timeout_s: float = 10.0
    # How often a new server's warm-up looks whether every stream is on it.
    subscribe_poll_s: float = 0.02
    listener: ListenerTimings = field(default_factory=ListenerTimings)


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
    # Requests forwarded at once; more wait for a connection of the pool (a server flooded with
    # a thousand new connections at once times some of them out while accepting).
    upstream_requests: int = 128
    max_directories: int = 32  # projects loaded on each new server before clients reach it
    timings: DoorTimings = field(default_factory=DoorTimings)
