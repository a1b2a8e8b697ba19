"""Status snapshots for tests of the views and reports."""

from __future__ import annotations

from typing import Any

from tray.core import causes
from tray.core.status import Incident, State, Status


def make_status(state: State = State.CONNECTED, **overrides: Any) -> Status:
    fields: dict[str, Any] = {
        "now": 1000.0,
        "state": state,
        "cause": None,
        "attempt": 0,
        "next_retry_at": None,
        "pid": 4242,
        "url": "http://127.0.0.1:4096",
        "version": "1.18.33",
        "ready_at": 880.0,
        "last_event_at": 995.0,
        "restarts": 0,
        "incidents": (),
        "busy_sessions": (),
        "last_worked_in": None,
        "last_gap_s": None,
    }
    fields.update(overrides)
    return Status(**fields)


def crashed_status() -> Status:
    cause = causes.process_exited(-9, ["boom"])
    return make_status(
        State.CRASHED,
        cause=cause,
        attempt=2,
        next_retry_at=1004.0,
        pid=None,
        ready_at=None,
        incidents=(Incident(opened_at=990.0, cause=cause),),
    )
