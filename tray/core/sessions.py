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
        # Since the REST snapshot of a resync was asked for: what the stream said of each
        # session it spoke of (busy or not). Newer than the snapshot, so it wins over it.
        self._heard_since_snapshot: dict[str, bool] = {}

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
            self._set_busy(session, False)
        elif type_ == "session.status":
            status = properties.get("status")
            kind = status.get("type") if isinstance(status, Mapping) else None
            if kind == "idle":
                self._set_busy(session, False)
            elif kind in ("busy", "retry"):
                self._set_busy(session, True)

    def snapshot_asked(self) -> None:
        """A resync is about to ask REST which sessions are busy: what the stream says from
        now on is newer than that answer."""
        self._heard_since_snapshot = {}

    def replace_busy(self, busy: Iterable[str]) -> None:
        """After a resync, REST's view of busy sessions replaces what the stream said before
        the snapshot was asked for; what it said since stays (a turn that started or ended
        while REST was being asked)."""
        heard, self._heard_since_snapshot = self._heard_since_snapshot, {}
        self._busy = set(busy) - {s for s, is_busy in heard.items() if not is_busy}
        self._busy |= {s for s, is_busy in heard.items() if is_busy}

    def _set_busy(self, session: str, is_busy: bool) -> None:
        self._heard_since_snapshot[session] = is_busy
        if is_busy:
            self._busy.add(session)
        else:
            self._busy.discard(session)

    def _forget(self, properties: Mapping[str, Any]) -> None:
        info = properties.get("info")
        session = info.get("id") if isinstance(info, Mapping) else None
        if not isinstance(session, str):
            return
        self._set_busy(session, False)
        if self.last_worked_in == session:
            self.last_worked_in = None
