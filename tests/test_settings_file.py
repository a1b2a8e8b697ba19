"""The settings file: round trips, forgiving reads that lose nothing, and atomic writes."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tray.core.setting import Kind, Setting
from tray.core.settings import SETTINGS, ResumeTarget, Settings, problems
from tray.settings import file as settings_file
from tray.settings.file import load, save

GOOD = """\
[server]
opencode_path = "/opt/opencode/bin/opencode"
port = 5123
working_directory = "/srv/code"

[server.env]
HTTPS_PROXY = "http://proxy:3128"

[timeouts]
startup_timeout_s = 90
heartbeat_timeout_s = 40.5
notification_grace_s = 2.0

[behaviour]
start_at_login = true
notify_recovered = false
resume_target = "terminal"
"""
GOOD_SETTINGS = Settings(
    opencode_path="/opt/opencode/bin/opencode",
    port=5123,
    working_directory="/srv/code",
    extra_env={"HTTPS_PROXY": "http://proxy:3128"},
    startup_timeout_s=90.0,
    heartbeat_timeout_s=40.5,
    notification_grace_s=2.0,
    start_at_login=True,
    notify_recovered=False,
    resume_target=ResumeTarget.TERMINAL,
)
# A file as the release before the settings were declared in one place wrote it.
PREVIOUS_RELEASE = """\
# opencode tray settings. Change them with Settings... in the tray menu, or here.
# A value that cannot be used falls back to its default with a warning, and this file is
# then kept as it was beside itself (settings.toml.broken-YYYYmmdd-HHMMSS).

[server]
# The opencode binary; empty: `opencode` on PATH, else the project-local install.
opencode_path = "/opt/opencode/bin/opencode"
# Port the server listens on (127.0.0.1 only); 0: any free port.
port = 5123
# Folder the server runs in; empty: your home folder.
working_directory = "/srv/code"

[server.env]
# Extra environment for the server, NAME = "value"; not OPENCODE_SERVER_PASSWORD (the app sets it).
HTTPS_PROXY = "http://proxy:3128"

[timeouts]
# Seconds the server may take to start and answer before it counts as failed.
startup_timeout_s = 90.0
# Seconds without any event before the connection counts as stalled; more than 10.
heartbeat_timeout_s = 25.0
# Longest wait between two attempts to reconnect to the server.
reconnect_max_s = 30.0
# Wait before the first automatic restart after a crash; doubles with each crash.
restart_backoff_min_s = 1.0
# Longest wait between two automatic restarts.
restart_backoff_max_s = 60.0
# This many crashes within crash_loop_window_s stop the automatic restarts.
crash_loop_limit = 3
# The window, in seconds, in which crash_loop_limit crashes count as a crash loop.
crash_loop_window_s = 300.0
# Seconds a server that runs but does not answer gets before it is restarted.
hung_restart_after_s = 60.0
# Seconds the server gets to exit on its own before it is killed.
stop_grace_s = 2.5
# Seconds a disconnection may last before it is notified (a quick recovery stays quiet).
notification_grace_s = 5.0

[behaviour]
# Start the server when the app starts.
start_server_with_app = true
# Start the app when you log in.
start_at_login = true
# Notify when the server disconnects or crashes.
notify_incidents = true
# Notify when the server is back.
notify_recovered = false
# Notify about sessions that finished while the app was disconnected.
notify_session_finished = false
# Where Resume opens a session: "browser" or "terminal".
resume_target = "terminal"
# Terminal to resume sessions in; empty: the platform's terminal.
terminal_command = "kitty"
"""
PREVIOUS_SETTINGS = Settings(
    opencode_path="/opt/opencode/bin/opencode",
    port=5123,
    working_directory="/srv/code",
    extra_env={"HTTPS_PROXY": "http://proxy:3128"},
    startup_timeout_s=90.0,
    stop_grace_s=2.5,
    crash_loop_limit=3,
    start_at_login=True,
    notify_recovered=False,
    resume_target=ResumeTarget.TERMINAL,
    terminal_command="kitty",
)
TRICKY_TEXT = [
    "",
    "plain",
    "C:\\Program Files\\opencode\\opencode.cmd",
    'it\'s "quoted" and \\back\\slashed',
    "tab\tnew\nline\rreturn",
    "\x01\x1f\x7f controls",
    "ünïcödé ✓ 🚀",
    "# not a comment",
    "key = value",
    "'''",
    '"""',
    "[server]",
    "\\u0041 not an escape",
    " leading and trailing ",
]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "config" / "settings.toml"


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".broken-*"))


def random_settings(rng: random.Random) -> Settings:
    """Arbitrary valid settings: every field drawn within its rule, edges included."""
    values: dict[str, Any] = {}
    for name, rule in SETTINGS.items():
        match rule.kind:
            case Kind.TEXT:
                values[name] = rng.choice([*TRICKY_TEXT, random_text(rng)])
            case Kind.FLAG:
                values[name] = rng.random() < 0.5
            case Kind.CHOICE:
                values[name] = rng.choice(list(ResumeTarget))
            case Kind.INT:
                low, high = int(rule.minimum), int(rule.maximum)
                values[name] = rng.choice([low, high, rng.randint(low, high)])
            case Kind.SECONDS:
                values[name] = random_seconds(rng, rule)
            case Kind.ENV:
                names = [random_env_name(rng) for _ in range(rng.randint(0, 4))]
                values[name] = {n: rng.choice([*TRICKY_TEXT, random_text(rng)]) for n in names}
    return Settings(**values)


def random_text(rng: random.Random) -> str:
    alphabet = "aZ09 _-./\\'\"#=[]{}\t\n\x00\x7fé✓🚀\u2028"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
    return text.replace("\x00", "")


def random_env_name(rng: random.Random) -> str:
    name = "".join(rng.choice("ABCxyz_09.-()é") for _ in range(rng.randint(1, 12)))
    return "X" + name


def random_seconds(rng: random.Random, rule: Setting) -> float:
    low = rule.minimum
    choices = [
        rule.maximum,
        rng.uniform(low, rule.maximum),
        math.nextafter(low, math.inf),
        low + rng.random(),
        low + 0.1 + 0.2,
        low + 1 / 3,
        low + rng.randint(1, 1000),
    ]
    if not rule.above_minimum:
        choices.append(low)
    return min(rng.choice(choices), rule.maximum)


# -- round trips ---------------------------------------------------------------------------------


def test_a_missing_file_gives_the_defaults_quietly(path: Path) -> None:
    result = load(path)
    assert result.settings == Settings()
    assert result.warnings == []
    assert result.backup is None


def test_the_defaults_round_trip(path: Path) -> None:
    save(path, Settings())
    assert load(path) == settings_file.LoadResult(Settings())


def test_a_hand_written_file_is_read(path: Path) -> None:
    write(path, GOOD)
    result = load(path)
    assert result.warnings == []
    assert result.settings == GOOD_SETTINGS


@pytest.mark.parametrize("seed", range(300))
def test_any_valid_settings_round_trip(path: Path, seed: int) -> None:
    settings = random_settings(random.Random(seed))
    assert problems(settings) == {}
    save(path, settings)
    result = load(path)
    assert result.warnings == []
    assert result.settings == settings


def test_the_file_is_sectioned_and_every_key_is_explained(path: Path) -> None:
    save(path, dataclasses.replace(Settings(), extra_env={"A_B": "1", "weird.name?": "2"}))
    text = path.read_text(encoding="utf-8")
    document = tomllib.loads(text)
    assert list(document) == ["server", "timeouts", "behaviour"]
    assert document["server"]["env"] == {"A_B": "1", "weird.name?": "2"}
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if "=" in line and not line.startswith("#") and not line.startswith(("A_B", '"weird')):
            assert lines[number - 1].startswith("# "), line
    for rule in SETTINGS.values():
        assert f"\n{rule.key} = " in text or f"[{rule.section.value}.{rule.key}]" in text


def test_a_file_the_previous_release_wrote_reads_the_same(path: Path) -> None:
    write(path, PREVIOUS_RELEASE)
    assert load(path) == settings_file.LoadResult(PREVIOUS_SETTINGS)
    save(path, PREVIOUS_SETTINGS)
    written = PREVIOUS_RELEASE.splitlines()
    kept = {line for line in written if line and not line.startswith("#")}
    assert kept <= set(path.read_text(encoding="utf-8").splitlines())  # each table, key, value


def test_windows_paths_stay_readable(path: Path) -> None:
    save(path, Settings(opencode_path="C:\\Tools\\opencode.cmd"))
    assert "opencode_path = 'C:\\Tools\\opencode.cmd'" in path.read_text(encoding="utf-8")


def test_a_partial_file_keeps_the_defaults_for_the_rest(path: Path) -> None:
    write(path, "[server]\nport = 0\n")
    result = load(path)
    assert result.settings == Settings(port=0)
    assert result.warnings == []
    assert backups(path) == []


def test_windows_line_ends_and_a_byte_order_mark_are_fine(path: Path) -> None:
    write(path, b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    result = load(path)
    assert result.warnings == []
    assert result.settings == GOOD_SETTINGS


# -- bad values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "line", "key", "reason"),
    [
        ("server", "port = 70000", "server.port", "from 0 to 65535"),
        ("server", "port = -1", "server.port", "from 0 to 65535"),
        ("server", 'port = "4096"', "server.port", "whole number"),
        ("server", "port = 4096.0", "server.port", "whole number"),
        ("server", "opencode_path = 12", "server.opencode_path", "must be text"),
        ("timeouts", "startup_timeout_s = -5", "timeouts.startup_timeout_s", "more than 0"),
        ("timeouts", "startup_timeout_s = 0", "timeouts.startup_timeout_s", "more than 0"),
        ("timeouts", "startup_timeout_s = inf", "timeouts.startup_timeout_s", "at most 86400"),
        ("timeouts", "startup_timeout_s = nan", "timeouts.startup_timeout_s", "a number"),
        ("timeouts", "stop_grace_s = -0.5", "timeouts.stop_grace_s", "at least 0"),
        ("timeouts", "heartbeat_timeout_s = 10", "timeouts.heartbeat_timeout_s", "every 10 s"),
        ("timeouts", "heartbeat_timeout_s = 3", "timeouts.heartbeat_timeout_s", "more than 10"),
        ("timeouts", "crash_loop_limit = 0", "timeouts.crash_loop_limit", "from 1 to 1000"),
        ("timeouts", "crash_loop_limit = 2.5", "timeouts.crash_loop_limit", "whole number"),
        ("timeouts", "reconnect_max_s = true", "timeouts.reconnect_max_s", "a number"),
        ("behaviour", "start_at_login = 1", "behaviour.start_at_login", "true or false"),
        ("behaviour", 'start_at_login = "yes"', "behaviour.start_at_login", "true or false"),
        ("behaviour", 'resume_target = "emacs"', "behaviour.resume_target", '"browser" or'),
        ("behaviour", "resume_target = 1", "behaviour.resume_target", '"browser" or'),
    ],
)
def test_a_bad_value_costs_only_its_key(
    path: Path, section: str, line: str, key: str, reason: str
) -> None:
    name = key.rsplit(".", maxsplit=1)[-1]
    lines = [old for old in GOOD.splitlines() if not old.startswith(f"{name} =")]
    at = lines.index(f"[{section}]") + 1
    lines.insert(at, line)
    write(path, "\n".join(lines) + "\n")
    result = load(path)
    assert result.settings == dataclasses.replace(
        GOOD_SETTINGS, **{name: getattr(Settings(), name)}
    )
    problem = result.warnings[0]
    assert problem.startswith(f"{path} line {at + 1}: {key} = ")
    assert reason in problem
    assert "using the default" in problem
    assert result.backup is not None
    assert result.backup.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    assert str(result.backup) in result.warnings[-1]


def test_every_bad_value_is_reported_and_every_good_one_kept(path: Path) -> None:
    write(
        path,
        GOOD.replace("port = 5123", "port = 70000").replace(
            "heartbeat_timeout_s = 40.5", "heartbeat_timeout_s = 9"
        ),
    )
    result = load(path)
    assert result.settings == dataclasses.replace(
        GOOD_SETTINGS, port=4096, heartbeat_timeout_s=25.0
    )
    assert [w.split(":")[1].split("=")[0].strip() for w in result.warnings[:2]] == [
        "server.port",
        "timeouts.heartbeat_timeout_s",
    ]


def test_environment_entries_are_checked_one_by_one(path: Path) -> None:
    write(
        path,
        "[server.env]\n"
        'GOOD = "kept"\n'
        'OPENCODE_SERVER_PASSWORD = "leaked"\n'
        'opencode_server_password = "leaked"\n'
        "NUMBER = 5\n"
        '"HAS SPACE" = "x"\n'
        'ALSO_GOOD = ""\n',
    )
    result = load(path)
    assert result.settings.extra_env == {"GOOD": "kept", "ALSO_GOOD": ""}
    assert len(result.warnings) == 5
    assert "line 3: server.env.OPENCODE_SERVER_PASSWORD" in result.warnings[0]
    assert "keyring" in result.warnings[0]
    assert "leaked" not in "".join(w for w in result.warnings if "PASSWORD" not in w)
    assert "line 5: server.env.NUMBER" in result.warnings[2]


def test_an_environment_that_is_not_a_table_is_ignored(path: Path) -> None:
    write(path, '[server]\nenv = "A=1"\nport = 1234\n')
    result = load(path)
    assert result.settings == Settings(port=1234)
    assert result.warnings[0].startswith(f"{path} line 2: server.env must be a table")


def test_unknown_keys_and_tables_are_reported_and_ignored(path: Path) -> None:
    write(
        path,
        "port = 1\n"
        "[server]\n"
        "port = 2000\n"
        "colour = 'blue'\n"
        "[timeouts]\n"
        "notify_recovered = false\n"
        "[plugins]\n"
        "a = 1\n",
    )
    result = load(path)
    assert result.settings == Settings(port=2000)
    assert result.warnings[:4] == [
        f"{path} line 1: port is not a known setting (it belongs under [server]); ignored.",
        f"{path} line 4: server.colour is not a known setting; ignored.",
        f"{path} line 6: timeouts.notify_recovered is not a known setting "
        "(it belongs under [behaviour]); ignored.",
        f"{path} line 7: plugins is not a known table; ignored.",
    ]
    assert result.backup is not None


def test_a_section_that_is_not_a_table_is_ignored(path: Path) -> None:
    write(path, "timeouts = 5\n[server]\nport = 0\n")
    result = load(path)
    assert result.settings == Settings(port=0)
    assert (
        result.warnings[0]
        == f"{path} line 1: timeouts must be a table, written [timeouts]; ignored."
    )


# -- broken syntax -------------------------------------------------------------------------------


def test_a_syntax_error_costs_only_its_line(path: Path) -> None:
    write(path, GOOD.replace("port = 5123", "port = 51 23"))
    result = load(path)
    assert result.settings == dataclasses.replace(GOOD_SETTINGS, port=4096)
    assert result.warnings[0].startswith(f"{path} line 3: cannot read 'port = 51 23' (")
    assert result.warnings[0].endswith("server.port keeps its default.")
    assert result.backup is not None


def test_many_broken_lines_each_cost_only_themselves(path: Path) -> None:
    broken = (
        GOOD.replace('opencode_path = "/opt', 'opencode_path = "/opt"/')
        .replace("heartbeat_timeout_s = 40.5", "heartbeat_timeout_s = ")
        .replace("start_at_login = true", "start_at_login = yes")
        .replace("notify_recovered = false", "notify_recovered = false\nthis is not toml")
    )
    write(path, broken)
    result = load(path)
    assert result.settings == dataclasses.replace(
        GOOD_SETTINGS, opencode_path="", heartbeat_timeout_s=25.0, start_at_login=False
    )
    lines = [w.split(":")[0] for w in result.warnings[:-1]]
    assert lines == [f"{path} line {n}" for n in (2, 11, 15, 17)]
    assert "line ignored" in result.warnings[3]


def test_a_broken_table_header_keeps_the_keys_below_it(path: Path) -> None:
    write(path, GOOD.replace("[timeouts]", "[timeouts"))
    result = load(path)
    assert result.settings == GOOD_SETTINGS
    assert result.warnings[0].startswith(f"{path} line 9: cannot read the table header")
    assert "read as [timeouts]" in result.warnings[0]


def test_a_key_set_twice_keeps_the_first(path: Path) -> None:
    write(path, "[server]\nport = 1000\nport = 2000\n")
    result = load(path)
    assert result.settings == Settings(port=1000)
    assert result.warnings[0] == f"{path} line 3: server.port is set twice; line ignored."


def test_a_table_declared_twice_is_merged(path: Path) -> None:
    write(path, "[server]\nport = 1000\n[behaviour]\nstart_at_login = true\n[server]\nport = 7\n")
    result = load(path)
    assert result.settings == Settings(port=1000, start_at_login=True)
    assert "line 6: server.port is set twice" in result.warnings[0]


def test_an_error_no_single_line_shows_is_still_reported(path: Path) -> None:
    write(path, "[server]\nport = 1000\n[server]\nworking_directory = '/w'\n")
    result = load(path)
    assert result.settings == Settings(port=1000, working_directory="/w")
    assert result.warnings[0].startswith(f"{path}: Cannot declare ('server',) twice (at line 3")


def test_multi_line_values_in_a_valid_file_are_fine(path: Path) -> None:
    write(path, '[server]\nworking_directory = """\n/srv/code"""\nport = 1\n')
    result = load(path)
    assert result.warnings == []
    assert result.settings == Settings(working_directory="/srv/code", port=1)


def test_a_line_that_is_not_utf8_costs_only_itself(path: Path) -> None:
    write(path, GOOD.encode().replace(b"/srv/code", b"/srv/\xff\xfe"))
    result = load(path)
    assert result.settings == dataclasses.replace(GOOD_SETTINGS, working_directory="")
    assert result.warnings[0] == f"{path} line 4: not UTF-8 text; line ignored."
    assert result.backup is not None
    assert result.backup.read_bytes() == path.read_bytes()


def test_an_unreadable_file_gives_the_defaults(path: Path) -> None:
    path.mkdir(parents=True)
    result = load(path)
    assert result.settings == Settings()
    assert result.warnings[0].startswith(f"{path} cannot be read (")


@pytest.mark.parametrize("seed", range(200))
def test_a_damaged_file_never_crashes_the_reader(path: Path, seed: int) -> None:
    rng = random.Random(seed)
    save(path, random_settings(rng))
    data = bytearray(path.read_bytes())
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data))
        match rng.randrange(4):
            case 0:
                del data[at : at + rng.randint(1, 30)]
            case 1:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 5)))
            case 2:
                data[at:at] = rng.choice([b"[", b"]", b'"', b"'", b"=", b"\n", b"{", b"."])
            case _:
                data[at] = rng.randrange(256)
    path.write_bytes(bytes(data))
    result = load(path)
    assert problems(result.settings) == {}
    for warning in result.warnings[:-1]:
        assert warning.startswith(str(path))


# -- the backup ----------------------------------------------------------------------------------


def test_a_file_with_problems_is_copied_once(path: Path) -> None:
    write(path, "[server]\nport = 70000\n")
    first = load(path)
    assert first.backup is not None
    assert first.backup.name.startswith("settings.toml.broken-")
    assert first.warnings[-1] == f"The file as it was is kept in {first.backup}."
    assert load(path).backup == first.backup
    assert backups(path) == [first.backup]
    write(path, "[server]\nport = 70001\n")
    second = load(path)
    assert second.backup not in (None, first.backup)
    assert len(backups(path)) == 2
    assert first.backup.read_text(encoding="utf-8") == "[server]\nport = 70000\n"


def test_saving_after_a_bad_load_keeps_the_original(path: Path) -> None:
    original = GOOD.replace("port = 5123", "port = oops")
    write(path, original)
    result = load(path)
    save(path, result.settings)
    assert result.backup is not None
    assert result.backup.read_text(encoding="utf-8") == original
    assert load(path).settings == result.settings


def test_a_failing_backup_is_said_clearly(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(path, "[server]\nport = 70000\n")

    real_open = os.open

    def refuse_to_create(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_EXCL:  # root may write anywhere: a fake refusal, then
            raise PermissionError(13, "Permission denied")
        return real_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse_to_create)
    result = load(path)
    assert result.backup is None
    assert result.warnings[-1].startswith(f"Could not keep a copy of {path} (Permission denied)")


# -- writing -------------------------------------------------------------------------------------


def test_save_creates_the_folder_and_leaves_no_temporary_files(path: Path) -> None:
    save(path, GOOD_SETTINGS)
    save(path, Settings())
    assert os.listdir(path.parent) == ["settings.toml"]
    assert load(path).settings == Settings()


def test_a_failed_save_leaves_the_old_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save(path, GOOD_SETTINGS)
    before = path.read_bytes()

    def crash(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        save(path, Settings())
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == ["settings.toml"]


def test_save_refuses_settings_it_could_not_read_back(path: Path) -> None:
    bad = Settings(port=70000, extra_env={"OPENCODE_SERVER_PASSWORD": "secret"})
    with pytest.raises(ValueError, match="port must be a whole number") as raised:
        save(path, bad)
    assert "OPENCODE_SERVER_PASSWORD cannot be set here" in str(raised.value)
    assert "secret" not in str(raised.value)
    assert not path.exists()


def test_nothing_secret_is_written(path: Path) -> None:
    save(path, Settings())
    lines = path.read_text(encoding="utf-8").lower().splitlines()
    written = "\n".join(line for line in lines if not line.startswith("#"))  # keys and values
    assert "password" not in written
