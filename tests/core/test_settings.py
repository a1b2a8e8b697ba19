"""Which settings need a restart, and the supervisor policy the settings imply."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import pytest

from tray.core.settings import ResumeTarget, Settings
from tray.core.supervisor import Policy

LAUNCH: dict[str, Any] = {
    "opencode_path": "/opt/opencode",
    "port": 0,
    "working_directory": "/srv/code",
    "extra_env": {"OPENCODE_LOG_LEVEL": "DEBUG"},
}
LIVE: dict[str, Any] = {
    "startup_timeout_s": 90.0,
    "heartbeat_timeout_s": 40.0,
    "reconnect_max_s": 10.0,
    "restart_backoff_min_s": 2.0,
    "restart_backoff_max_s": 120.0,
    "crash_loop_limit": 3,
    "crash_loop_window_s": 600.0,
    "hung_restart_after_s": 45.0,
    "stop_grace_s": 9.0,
    "notification_grace_s": 1.0,
    "start_server_with_app": False,
    "start_at_login": True,
    "notify_incidents": False,
    "notify_recovered": False,
    "notify_session_finished": True,
    "resume_target": ResumeTarget.TERMINAL,
    "terminal_command": "kitty",
}


def test_the_tables_cover_every_setting() -> None:
    assert {f.name for f in fields(Settings)} == set(LAUNCH) | set(LIVE)


@pytest.mark.parametrize(("name", "value"), LAUNCH.items())
def test_launch_settings_need_a_restart(name: str, value: Any) -> None:
    before = Settings()
    after = replace(before, **{name: value})
    assert after.needs_restart(before)
    assert before.needs_restart(after)


@pytest.mark.parametrize(("name", "value"), LIVE.items())
def test_other_settings_apply_at_once(name: str, value: Any) -> None:
    before = Settings()
    assert not replace(before, **{name: value}).needs_restart(before)


def test_equal_settings_need_no_restart() -> None:
    assert not Settings(extra_env={"A": "1"}).needs_restart(Settings(extra_env={"A": "1"}))


def test_default_settings_give_the_default_policy() -> None:
    assert Settings().policy() == Policy()


def test_policy_mapping() -> None:
    policy = replace(Settings(), **LIVE).policy()
    assert policy == Policy(
        startup_timeout_s=90.0,
        heartbeat_timeout_s=40.0,
        reconnect_max_s=10.0,
        restart_min_s=2.0,
        restart_max_s=120.0,
        crash_loop_limit=3,
        crash_loop_window_s=600.0,
        hung_restart_after_s=45.0,
        stop_grace_s=9.0,
    )


def test_resume_target_values() -> None:
    assert [t.value for t in ResumeTarget] == ["browser", "terminal"]
