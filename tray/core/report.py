"""`opencode-tray status --json`: a public contract, documented in README. Add fields; never
rename or remove one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tray.core.door.stats import DoorStats
from tray.core.status import Incident, State, Status

SCHEMA_VERSION = 1
INCIDENTS_REPORTED = 10

# Exit codes of `opencode-tray status`.
EXIT_CONNECTED = 0
EXIT_NOT_CONNECTED = 1
EXIT_NOT_RUNNING = 3


def exit_code(status: Status) -> int:
    return EXIT_CONNECTED if status.state is State.CONNECTED else EXIT_NOT_CONNECTED


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _incident(incident: Incident, now: float, wall: Callable[[float], float]) -> dict[str, Any]:
    return {
        "opened_at": _iso(wall(incident.opened_at)),
        "cause": incident.cause.to_json(),
        "ongoing": incident.is_open,
        "recovered": incident.recovered,
        "duration_s": _rounded(incident.duration(now)),
    }


def status_json(
    status: Status,
    wall: Callable[[float], float],
    app_version: str,
    app_pid: int,
    front_door: DoorStats | None = None,
) -> dict[str, Any]:
    """The status as JSON-ready data; `wall` turns a monotonic time into epoch seconds;
    `front_door`: its counters when it is on."""
    return {
        "schema": SCHEMA_VERSION,
        "app": {"version": app_version, "pid": app_pid},
        "state": status.state.value,
        "cause": status.cause.to_json() if status.cause else None,
        "attempt": status.attempt,
        "next_retry_in_s": _rounded(status.next_retry_in_s),
        "server": _server(status),
        "stream": {
            "connected": status.stream_connected,
            "seconds_since_last_event": _rounded(status.since_last_event_s),
        },
        "sessions": _sessions(status),
        "update": _update(status),
        "front_door": (front_door or DoorStats()).to_json(enabled=front_door is not None),
        "incidents": [
            _incident(i, status.now, wall) for i in status.incidents[-INCIDENTS_REPORTED:]
        ],
    }


def _server(status: Status) -> dict[str, Any]:
    return {
        "pid": status.pid,
        "url": status.url,
        "upstream_url": status.upstream_url or status.url,
        "version": status.version,
        "uptime_s": _rounded(status.uptime_s),
        "restarts": status.restarts,
        "memory_mb": _rounded(status.health.memory_mb),
        "memory_peak_mb": _rounded(status.health.memory_peak_mb),
        "memory_limit_mb": status.health.memory_limit_mb or None,
        "memory_limit_too_low_mb": _rounded(status.health.memory_limit_too_low_mb),
    }


def _sessions(status: Status) -> dict[str, Any]:
    return {
        "busy": list(status.busy_sessions),
        "active": list(status.busy_sessions),  # the old name of "busy", kept for scripts
        "last_active": status.last_worked_in,
        "last_gap_s": _rounded(status.last_gap_s),
        "changed_in_gap": list(status.changed_in_gap),
        "stuck": list(status.health.stuck_sessions),
    }


def _update(status: Status) -> dict[str, Any]:
    pending = status.health.pending_restart
    return {
        "available": status.health.update_available,
        "on_disk": status.health.binary_version,
        "pending_restart": pending.to_json() if pending else None,
        "note": status.health.update_note,
    }
