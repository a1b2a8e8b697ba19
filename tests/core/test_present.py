from __future__ import annotations

import pytest

from tests.factories import crashed_status, make_status
from tray.core import causes, present
from tray.core.status import State


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.42, "0.4 s"),
        (12.4, "12 s"),
        (60, "1 min"),
        (185, "3 min 5 s"),
        (7200, "2 h"),
        (7500, "2 h 5 min"),
        (86400 * 3 + 3600 * 4, "3 d 4 h"),
        (86400, "1 d"),
    ],
)
def test_duration(seconds: float, text: str) -> None:
    assert present.duration(seconds) == text


def test_crashed_line_says_what_happens_next() -> None:
    status = crashed_status()
    assert present.state_line(status) == "Crashed, restarting in 4 s (attempt 2)"
    assert present.status_line(status) == (
        "Crashed, restarting in 4 s (attempt 2): server killed by SIGKILL: boom"
    )


def test_reconnecting_line() -> None:
    status = make_status(
        State.RECONNECTING,
        attempt=3,
        next_retry_at=1000.5,
        cause=causes.heartbeat_missed(25),
    )
    assert present.status_line(status) == (
        "Reconnecting, next try in 0.5 s (attempt 3): no heartbeat for 25 s: the event stream "
        "stalled"
    )


def test_stopped_line() -> None:
    assert present.state_line(make_status(State.STOPPED)) == "Stopped by you"


def test_tooltip_connected() -> None:
    status = make_status(busy_sessions=("ses_a", "ses_b"))
    assert present.tooltip(status) == (
        "opencode: Connected\nhttp://127.0.0.1:4096 (opencode 1.18.33)\nUp 2 min\n2 active sessions"
    )


def test_tooltip_failed_carries_the_cause() -> None:
    cause = causes.binary_not_found(["/nope/opencode"])
    status = make_status(State.FAILED, cause=cause, url=None, version=None, ready_at=None)
    assert present.tooltip(status) == f"opencode: Failed\n{cause.text}"


def test_sentences() -> None:
    assert present.capitalized("server killed") == "Server killed"
    assert present.sentence("no such folder") == "No such folder."
    assert present.sentence("what now?") == "What now?"


def test_retry_counts_down_from_the_status_or_a_later_time() -> None:
    status = crashed_status()  # retry at 1004, attempt 2, now 1000
    assert present.retry("Restarting", status) == "Restarting in 4 s (attempt 2)"
    assert present.retry("Restarting", status, now=1003.5) == "Restarting in 0.5 s (attempt 2)"
    assert present.retry("Restarting", status, now=1010) == "Restarting in 0.0 s (attempt 2)"
    assert present.retry("Starting", make_status(State.STARTING)) == "Starting"


def test_the_details_are_the_tooltip_below_its_first_line() -> None:
    status = make_status(busy_sessions=("ses_a",))
    assert present.details(status) == [
        "http://127.0.0.1:4096 (opencode 1.18.33)",
        "Up 2 min",
        "1 active session",
    ]
    assert present.tooltip(status).split("\n")[1:] == present.details(status)


@pytest.mark.parametrize(
    ("seconds", "text", "changes_in"),
    [
        (0.0, "under 10 s", 10.0),
        (9.9, "under 10 s", 0.1),
        (10.0, "10 s", 10.0),
        (59.0, "50 s", 1.0),
        (60.0, "1 min", 60.0),
        (185.0, "3 min", 55.0),
        (7_530.0, "2 h 5 min", 30.0),
        (270_000.0, "3 d 3 h", 60.0),
    ],
)
def test_the_tooltips_uptime_moves_at_most_once_a_minute_after_the_first(
    seconds: float, text: str, changes_in: float
) -> None:
    assert present.coarse_uptime(seconds) == text
    assert present.coarse_uptime_changes_in(seconds) == pytest.approx(changes_in)


def test_the_tooltip_is_coarse_and_the_command_line_precise() -> None:
    status = make_status(now=1005.0)  # up 2 min 5 s
    assert "Up 2 min" in present.tooltip(status, coarse=True).split("\n")
    assert "Up 2 min 5 s" in present.tooltip(status).split("\n")
