from __future__ import annotations

import json
from dataclasses import replace

from tests.factories import crashed_status, make_status
from tray.core import report
from tray.core.door.stats import DoorStats
from tray.core.status import State


def _wall(monotonic: float) -> float:
    return 1_700_000_000.0 + monotonic


def test_connected_report_has_every_documented_field() -> None:
    status = make_status(
        busy_sessions=("ses_1",),
        last_worked_in="ses_1",
        restarts=2,
        last_gap_s=2.5,
        changed_in_gap=("ses_0",),
    )
    data = report.status_json(status, _wall, "0.1.0", 77)
    assert data == {
        "schema": 1,
        "app": {"version": "0.1.0", "pid": 77},
        "state": "connected",
        "cause": None,
        "attempt": 0,
        "next_retry_in_s": None,
        "server": {
            "pid": 4242,
            "url": "http://127.0.0.1:4096",
            "upstream_url": "http://127.0.0.1:4096",
            "version": "1.18.33",
            "uptime_s": 120.0,
            "restarts": 2,
            "memory_mb": None,
            "memory_peak_mb": None,
            "memory_limit_mb": None,
            "memory_limit_too_low_mb": None,
        },
        "stream": {"connected": True, "seconds_since_last_event": 5.0},
        "sessions": {
            "busy": ["ses_1"],
            "active": ["ses_1"],
            "last_active": "ses_1",
            "last_gap_s": 2.5,
            "changed_in_gap": ["ses_0"],
            "stuck": [],
        },
        "update": {"available": None, "on_disk": None, "pending_restart": None, "note": None},
        "front_door": {
            "enabled": False,
            "url": None,
            "clients": 0,
            "streams": 0,
            "streams_held": 0,
            "requests_held": 0,
            "requests_relayed": 0,
            "last_hold_s": None,
        },
        "incidents": [],
    }
    json.dumps(data)
    assert report.exit_code(status) == report.EXIT_CONNECTED


def test_crashed_report_carries_cause_and_incident() -> None:
    data = report.status_json(crashed_status(), _wall, "0.1.0", 77)
    assert data["state"] == "crashed"
    assert data["cause"]["kind"] == "killed_by_signal"
    assert data["cause"]["facts"]["signal"] == "SIGKILL"
    assert data["next_retry_in_s"] == 4.0
    assert data["incidents"] == [
        {
            "opened_at": "2023-11-14T22:29:50+00:00",
            "cause": data["cause"],
            "ongoing": True,
            "recovered": False,
            "duration_s": 10.0,
        }
    ]
    assert report.exit_code(make_status(State.STARTING)) == report.EXIT_NOT_CONNECTED


def test_behind_the_front_door_url_is_public_and_upstream_private() -> None:
    status = replace(
        make_status(), url="http://127.0.0.1:4096", upstream_url="http://127.0.0.1:40123"
    )
    stats = DoorStats(url="http://127.0.0.1:4096", clients=4, streams=2, requests_relayed=9)
    data = report.status_json(status, _wall, "0.1.0", 77, front_door=stats)
    assert data["server"]["url"] == "http://127.0.0.1:4096"
    assert data["server"]["upstream_url"] == "http://127.0.0.1:40123"
    assert data["front_door"] == {
        "enabled": True,
        "url": "http://127.0.0.1:4096",
        "clients": 4,
        "streams": 2,
        "streams_held": 0,
        "requests_held": 0,
        "requests_relayed": 9,
        "last_hold_s": None,
    }
