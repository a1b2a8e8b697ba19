"""Asking REST what the event stream may have missed: the busy sessions, every session, and
the state of the one the user worked in last."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from tray.core.messages import Resynced, ResyncFailed
from tray.core.resume import SessionReport, newest_first
from tray.engine.api import ApiError, ServerApi
from tray.generations.events import SessionSummary

log = logging.getLogger(__name__)


async def resync(
    api: ServerApi,
    gap_s: float | None,
    attempt: int,
    listed: Callable[[tuple[SessionSummary, ...]], None],
    last_worked_in: Callable[[], str | None],
) -> Resynced | ResyncFailed:
    """What the supervisor is told; a failure it asks again after a backoff, for as long as the
    connection lasts. `listed(recent)` gets the sessions, newest first, as soon as they are
    known; `last_worked_in()` is the session the stream says the user worked in last."""
    since_ms = (time.time() - gap_s) * 1000 if gap_s is not None else None
    try:
        busy = await api.busy_sessions()
        summaries = await api.sessions()
    except ApiError as error:
        log.warning("resync attempt %d failed: %s", attempt, error.cause.text)
        return ResyncFailed(attempt, error.cause)
    recent = newest_first(summaries)
    listed(recent)
    changed = tuple(s.id for s in summaries if since_ms is not None and s.updated_ms >= since_ms)
    active = last_worked_in() or (recent[0].id if recent else None)
    report = await _report(api, active, busy)
    if gap_s is not None:
        log.info(
            "resynced after a %.1f s gap: %d busy, %d changed; active session %s",
            gap_s,
            len(busy),
            len(changed),
            f"{report.id} {report.condition.value}" if report else "none",
        )
    return Resynced(gap_s, tuple(sorted(busy)), changed, report)


async def _report(api: ServerApi, active: str | None, busy: dict[str, Any]) -> SessionReport | None:
    """The state of the session the user worked in last (the newest one if the stream has not
    said), or None."""
    if active is None:
        return None
    try:
        return await api.session_report(active, busy)
    except ApiError as error:
        log.warning("could not resync session %s: %s", active, error.cause.text)
        return None
