"""The declared settings: complete declarations, the value rules, which settings need a restart,
and the supervisor policy the settings imply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

import pytest

from tray.core.setting import Browse, Group, Kind, Section, kind_of
from tray.core.settings import SETTINGS, ResumeTarget, Settings, problems, validate
from tray.core.supervisor import Policy

LAUNCH: dict[str, Any] = {
    "opencode_path": "/opt/opencode",
    "port": 0,
    "working_directory": "/srv/code",
    "extra_env": {"OPENCODE_LOG_LEVEL": "DEBUG"},
    "front_door": False,
}
LIVE: dict[str, Any] = {
    "startup_timeout_s": 90.0,
    "keyring_timeout_s": 5.0,
    "heartbeat_timeout_s": 40.0,
    "reconnect_max_s": 10.0,
    "restart_backoff_min_s": 2.0,
    "restart_backoff_max_s": 120.0,
    "crash_loop_limit": 3,
    "crash_loop_window_s": 600.0,
    "hung_restart_after_s": 45.0,
    "memory_limit_mb": 2048,
    "memory_grace_s": 60.0,
    "request_hang_s": 7.0,
    "health_interval_s": 3.0,
    "stuck_after_s": 120.0,
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


# -- the declarations ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_setting_is_declared_completely(name: str) -> None:
    declared = SETTINGS[name]
    assert declared.name == name
    assert declared.label
    assert not declared.label.endswith((":", "."))
    assert declared.help.endswith(".")
    assert "\n" not in declared.help
    assert declared.default == getattr(Settings(), name)
    assert declared.problem(declared.default) is None
    assert declared.minimum <= declared.maximum
    if declared.kind is Kind.CHOICE:
        assert declared.choices
    if declared.browse is not None:
        assert declared.kind is Kind.TEXT


def test_the_launch_settings_are_the_ones_declared_for_a_restart() -> None:
    assert {name for name, declared in SETTINGS.items() if declared.restart} == set(LAUNCH)


def test_a_sentence_can_name_each_launch_setting() -> None:
    for declared in SETTINGS.values():
        if declared.restart:
            words = declared.in_a_sentence()
            assert words.startswith("the "), words
            assert ":" not in words, words
            assert len(words) <= 30, words
    assert SETTINGS["port"].in_a_sentence() == "the port"


def test_the_kind_follows_the_type() -> None:
    kinds = {name: declared.kind for name, declared in SETTINGS.items()}
    assert kinds["opencode_path"] is Kind.TEXT
    assert kinds["port"] is Kind.INT
    assert kinds["startup_timeout_s"] is Kind.SECONDS
    assert kinds["start_at_login"] is Kind.FLAG
    assert kinds["resume_target"] is Kind.CHOICE
    assert kinds["extra_env"] is Kind.ENV
    assert SETTINGS["resume_target"].choices == tuple(ResumeTarget)
    assert all(name.endswith("_s") for name, kind in kinds.items() if kind is Kind.SECONDS)
    with pytest.raises(TypeError, match="cannot be of type"):
        kind_of(list[str])
    assert kind_of(Mapping[str, str]) == (Kind.ENV, ())


def test_the_file_key_is_the_name_unless_declared() -> None:
    renamed = {name: d.key for name, d in SETTINGS.items() if d.key != name}
    assert renamed == {"extra_env": "env"}


def test_the_keyring_wait() -> None:
    declared = SETTINGS["keyring_timeout_s"]
    assert Settings().keyring_timeout_s == 60.0
    assert declared.section is Section.TIMEOUTS
    assert declared.advanced
    assert not declared.restart
    assert "password for this run only" in declared.help


def test_both_dialog_pages_have_settings() -> None:
    groups = {declared.group for declared in SETTINGS.values()}
    assert groups == set(Group)
    assert {group.advanced for group in groups} == {False, True}
    assert {d.browse for d in SETTINGS.values()} == {None, Browse.FILE, Browse.FOLDER}


def test_the_default_mapping_is_not_shared() -> None:
    first, second = Settings(), Settings()
    assert first.extra_env == {}
    assert first.extra_env is not second.extra_env


def test_restart_changes_name_the_settings() -> None:
    after = replace(Settings(), port=0, extra_env={"A": "1"}, stop_grace_s=1.0)
    assert [d.name for d in after.restart_changes(Settings())] == ["port", "extra_env"]


# -- needing a restart ---------------------------------------------------------------------------


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


# -- the rules -----------------------------------------------------------------------------------


def test_every_field_has_exactly_one_rule() -> None:
    assert set(SETTINGS) == {f.name for f in fields(Settings)}
    assert len({(r.section, r.key) for r in SETTINGS.values()}) == len(SETTINGS)


def test_the_defaults_keep_the_rules() -> None:
    assert problems(Settings()) == {}


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("port", 0, None),
        ("port", 65535, None),
        ("port", 65536, "must be a whole number from 0 to 65535"),
        ("port", True, "must be a whole number from 0 to 65535"),
        ("heartbeat_timeout_s", 10.0, "must be more than 10 seconds (the server sends a"),
        ("heartbeat_timeout_s", 10.001, None),
        ("heartbeat_timeout_s", 86400, None),
        ("heartbeat_timeout_s", 86401, "must be at most 86400 seconds"),
        ("notification_grace_s", 0.0, None),
        ("notification_grace_s", -0.1, "must be at least 0 seconds"),
        ("startup_timeout_s", "60", "must be a number, more than 0 seconds"),
        ("crash_loop_limit", 1, None),
        ("crash_loop_limit", 1001, "must be a whole number from 1 to 1000"),
        ("resume_target", "browser", 'must be "browser" or "terminal"'),
        ("resume_target", ResumeTarget.BROWSER, None),
        ("opencode_path", "a\x00b", "must not contain a NUL character"),
        ("opencode_path", "\udc80", "must be valid Unicode text"),
        ("start_at_login", 0, "must be true or false"),
        ("extra_env", {"A": "1"}, None),
        ("extra_env", {"Password_ok": "1"}, None),
        ("extra_env", {"opencode_server_password": "1"}, "cannot be set here"),
        ("extra_env", {"A=B": "1"}, "not a variable name"),
        ("extra_env", {"": "1"}, "needs a name"),
        ("extra_env", {"A B": "1"}, "not a variable name"),
        ("extra_env", {"A": "nul\x00"}, "the value of A must not contain a NUL"),
        ("extra_env", "A=1", "must be a table"),
    ],
)
def test_validate(name: str, value: object, problem: str | None) -> None:
    found = validate(name, value)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
