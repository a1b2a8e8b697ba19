"""Errors the door answers itself, in the server's error shape."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tray.core.door.phases import Phase, ServerView, phase_of
from tray.core.status import State


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


def why(view: ServerView) -> str:
    """What is wrong with the server, for a client."""
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
