"""Which sessions are busy and which one the user worked in last, from the event stream."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Event types that show a person working in a session.
_ACTIVITY = {
    "session.status",
    "session.idle",
    "message.updated",
    "message.part.updated",
    "message.part.delta",
    "permission.asked",
    "question.asked",
}


def session_id_of(properties: Mapping[str, Any]) -> str | None:
    """The session an event is about, wherever its type keeps the id."""
    direct = properties.get("sessionID")
    if isinstance(direct, str):
        return direct
    for key in ("info", "part"):
        nested = properties.get(key)
        if isinstance(nested, Mapping) and isinstance(nested.get("sessionID"), str):
            return str(nested["sessionID"])
    return None


class SessionActivity:
    def __init__(self) -> None:
        self._busy: set[str] = set()
        self.last_worked_in: str | None = None

    @property
    def busy(self) -> tuple[str, ...]:
        return tuple(sorted(self._busy))

    def observe(self, type_: str, properties: Mapping[str, Any]) -> None:
        if type_ not in _ACTIVITY:
            if type_ == "session.deleted":
                self._forget(properties)
            return
        session = session_id_of(properties)
        if session is None:
            return
        self.last_worked_in = session
        if type_ == "session.idle":
            self._busy.discard(session)
        elif type_ == "session.status":
            status = properties.get("status")
            kind = status.get("type") if isinstance(status, Mapping) else None
            if kind == "idle":
                self._busy.discard(session)
            elif kind in ("busy", "retry"):
                self._busy.add(session)

    def replace_busy(self, busy: Iterable[str]) -> None:
        """After a resync, REST's view of busy sessions replaces what the stream said."""
        self._busy = set(busy)

    def _forget(self, properties: Mapping[str, Any]) -> None:
        info = properties.get("info")
        session = info.get("id") if isinstance(info, Mapping) else None
        if not isinstance(session, str):
            return
        self._busy.discard(session)
        if self.last_worked_in == session:
            self.last_worked_in = None
