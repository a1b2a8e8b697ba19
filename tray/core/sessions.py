"""Which sessions are busy and which one the user worked in last, from the event stream."""

from __future__ import annotations

from collections.abc import Iterable

from tray.generations.events import (
    Activity,
    AwaitingUser,
    ServerEvent,
    SessionBusy,
    SessionDeleted,
    SessionIdle,
)


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

    def observe(self, event: ServerEvent) -> None:
        match event:
            case SessionBusy(session) | SessionIdle(session):
                self.last_worked_in = session
                self._set_busy(session, isinstance(event, SessionBusy))
            case Activity(session) | AwaitingUser(session):
                self.last_worked_in = session
            case SessionDeleted(deleted):
                self._set_busy(deleted, False)
                if self.last_worked_in == deleted:
                    self.last_worked_in = None

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
