"""What the kernel says of a connection now, without reading it: it may know what the loop has
not seen yet (a peer that closed, or was killed, before anyone was told)."""

from __future__ import annotations

import select
import socket

# A peer that closed or reset its connection, data unread or not. Only Linux tells (POLLRDHUP).
HANGUP = getattr(select, "POLLRDHUP", 0)
if HANGUP:
    HANGUP |= select.POLLHUP | select.POLLERR


def readable(sock: socket.socket) -> bool:
    """Whether the connection has something to read (or its end)."""
    if hasattr(select, "poll"):
        return _reports(sock, select.POLLIN)
    return bool(select.select([sock], [], [], 0)[0])  # Windows


def hung_up(sock: socket.socket) -> bool:
    """Whether the peer closed or reset the connection, even with its data unread (where the
    kernel tells: `HANGUP`; elsewhere, never)."""
    return bool(HANGUP) and _reports(sock, HANGUP)


def _reports(sock: socket.socket, events: int) -> bool:
    poller = select.poll()
    poller.register(sock, events)
    return bool(poller.poll(0))
