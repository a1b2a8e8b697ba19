"""Start at login on all three platforms: off by default, the OS's own record is the truth."""

from __future__ import annotations

import ctypes
import ctypes.util
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from tray.platform import autostart
from tray.platform.autostart import (
    RUN_KEY,
    STARTUP_APPROVED_KEY,
    LaunchAgent,
    WindowsRun,
    XdgAutostart,
)
from tray.platform.identity import APP_ID, APP_NAME, BACKGROUND_ARG, RUN_VALUE_NAME

# Everything the Exec quoting rules care about: space, quotes, $, backslash, %, backquote.
AWKWARD = ["/opt/my apps/it's $HOME \\ 100% `x`/opencode-tray", "--flag=a;b", ""]


def _validate(path: Path) -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout + result.stderr == "", result.stdout + result.stderr


def _exec_args(desktop_file: Path) -> list[str]:
    """Exec read back by GLib, as GNOME's launcher does: the key file string, then %% -> %,
    then shell quoting."""
    glib = ctypes.CDLL(ctypes.util.find_library("glib-2.0") or "libglib-2.0.so.0")
    glib.g_key_file_new.restype = ctypes.c_void_p
    glib.g_key_file_load_from_file.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_void_p,
    ]
    glib.g_key_file_get_string.restype = ctypes.c_void_p
    glib.g_key_file_get_string.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_void_p,
    ]
    glib.g_key_file_free.argtypes = [ctypes.c_void_p]
    glib.g_free.argtypes = [ctypes.c_void_p]
    key_file = glib.g_key_file_new()
    assert glib.g_key_file_load_from_file(key_file, bytes(desktop_file), 0, None)
    raw = glib.g_key_file_get_string(key_file, b"Desktop Entry", b"Exec", None)
    assert raw
    exec_line = ctypes.string_at(raw).decode().replace("%%", "%")
    glib.g_free(raw)
    glib.g_key_file_free(key_file)
    argc = ctypes.c_int()
    argv = ctypes.POINTER(ctypes.c_char_p)()
    assert glib.g_shell_parse_argv(exec_line.encode(), ctypes.byref(argc), ctypes.byref(argv), None)
    args = [(argv[i] or b"").decode() for i in range(argc.value)]
    glib.g_strfreev(argv)
    return args


# The command to launch.


def test_frozen_app_starts_its_own_executable(tmp_path: Path) -> None:
    exe = tmp_path / APP_NAME
    assert autostart.launch_command(str(exe), frozen=True) == [str(exe)]


def test_from_source_the_installed_script_is_preferred(tmp_path: Path) -> None:
    (tmp_path / APP_NAME).write_text("#!/bin/sh\n")
    python = tmp_path / "python"
    assert autostart.launch_command(str(python), frozen=False) == [str(tmp_path / APP_NAME)]


def test_from_source_without_a_script_runs_the_package(tmp_path: Path) -> None:
    python = tmp_path / "python"
    assert autostart.launch_command(str(python), frozen=False) == [str(python), "-m", "tray"]


def test_the_current_interpreter_has_a_command() -> None:
    command = autostart.launch_command()
    assert Path(command[0]).is_absolute()


# Linux: XDG autostart.


def test_xdg_path_honours_xdg_config_home(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    path = autostart.xdg_autostart_file(env, home=tmp_path)
    assert path == tmp_path / "cfg" / "autostart" / "opencode-tray.desktop"


@pytest.mark.parametrize("config_home", ["", "relative/dir"])
def test_xdg_path_falls_back_to_dot_config(tmp_path: Path, config_home: str) -> None:
    path = autostart.xdg_autostart_file({"XDG_CONFIG_HOME": config_home}, home=tmp_path)
    assert path == tmp_path / ".config" / "autostart" / "opencode-tray.desktop"


def test_xdg_is_off_by_default(tmp_path: Path) -> None:
    entry = XdgAutostart(tmp_path / "autostart" / "opencode-tray.desktop")
    assert not entry.is_enabled()
    assert not entry.refresh(["/usr/bin/opencode-tray"])
    assert not entry.path.exists()


def test_xdg_enable_writes_a_valid_entry_that_starts_in_the_background(tmp_path: Path) -> None:
    entry = XdgAutostart(tmp_path / "autostart" / "opencode-tray.desktop")
    entry.enable(AWKWARD)
    assert entry.is_enabled()
    _validate(entry.path)
    assert _exec_args(entry.path) == [*AWKWARD, BACKGROUND_ARG]
    assert list(entry.path.parent.iterdir()) == [entry.path]


def test_xdg_disable_removes_the_entry(tmp_path: Path) -> None:
    entry = XdgAutostart(tmp_path / "opencode-tray.desktop")
    entry.enable(["/usr/bin/opencode-tray"])
    entry.disable()
    assert not entry.is_enabled()
    assert not entry.path.exists()
    entry.disable()


def test_xdg_refresh_points_an_enabled_entry_at_the_moved_app(tmp_path: Path) -> None:
    entry = XdgAutostart(tmp_path / "opencode-tray.desktop")
    entry.enable(["/old/place/opencode-tray"])
    assert entry.refresh(["/new/place/opencode-tray"])
    assert _exec_args(entry.path) == ["/new/place/opencode-tray", BACKGROUND_ARG]


@pytest.mark.parametrize("switch_off", ["Hidden=true", "X-GNOME-Autostart-enabled=false"])
def test_xdg_entry_switched_off_by_the_desktop_reads_as_off(
    tmp_path: Path, switch_off: str
) -> None:
    entry = XdgAutostart(tmp_path / "opencode-tray.desktop")
    entry.enable(["/usr/bin/opencode-tray"])
    text = entry.path.read_text().replace("X-GNOME-Autostart-enabled=true\n", "")
    entry.path.write_text(text + switch_off + "\n")
    assert not entry.is_enabled()
    assert not entry.refresh(["/usr/bin/opencode-tray"])
    assert switch_off in entry.path.read_text()
    entry.enable(["/usr/bin/opencode-tray"])
    assert entry.is_enabled()


def test_xdg_unreadable_entry_reads_as_off(tmp_path: Path) -> None:
    path = tmp_path / "opencode-tray.desktop"
    path.write_bytes(b"\xff\xfe not text")
    assert not XdgAutostart(path).is_enabled()


# Windows: HKCU Run, through a fake of the registry.


class FakeRegistry:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str | bytes] = {}

    def get(self, key: str, name: str) -> str | bytes | None:
        return self.values.get((key, name))

    def set_string(self, key: str, name: str, value: str) -> None:
        self.values[key, name] = value

    def delete(self, key: str, name: str) -> None:
        self.values.pop((key, name), None)


def test_windows_is_off_by_default() -> None:
    registry = FakeRegistry()
    entry = WindowsRun(registry)
    assert not entry.is_enabled()
    assert not entry.refresh([r"C:\Apps\opencode-tray.exe"])
    assert registry.values == {}


def test_windows_enable_writes_the_run_value() -> None:
    registry = FakeRegistry()
    entry = WindowsRun(registry)
    entry.enable([r"C:\Users\A User\AppData\Local\Programs\opencode-tray\opencode-tray.exe"])
    assert registry.values == {
        (RUN_KEY, RUN_VALUE_NAME): (
            r'"C:\Users\A User\AppData\Local\Programs\opencode-tray\opencode-tray.exe" '
            + BACKGROUND_ARG
        )
    }
    assert entry.is_enabled()
    entry.disable()
    assert registry.values == {}
    assert not entry.is_enabled()


def test_windows_entry_switched_off_in_task_manager_reads_as_off() -> None:
    registry = FakeRegistry()
    entry = WindowsRun(registry)
    entry.enable([r"C:\Apps\opencode-tray.exe"])
    registry.values[STARTUP_APPROVED_KEY, RUN_VALUE_NAME] = bytes([3, 0, 0, 0]) + bytes(8)
    assert not entry.is_enabled()
    assert not entry.refresh([r"C:\Apps\opencode-tray.exe"])
    entry.enable([r"C:\Apps\opencode-tray.exe"])
    assert entry.is_enabled()
    assert (STARTUP_APPROVED_KEY, RUN_VALUE_NAME) not in registry.values


def test_windows_entry_approved_in_task_manager_reads_as_on() -> None:
    registry = FakeRegistry()
    entry = WindowsRun(registry)
    entry.enable([r"C:\Apps\opencode-tray.exe"])
    registry.values[STARTUP_APPROVED_KEY, RUN_VALUE_NAME] = bytes([2]) + bytes(11)
    assert entry.is_enabled()


def test_windows_refresh_points_an_enabled_entry_at_the_moved_app() -> None:
    registry = FakeRegistry()
    entry = WindowsRun(registry)
    entry.enable([r"C:\Old\opencode-tray.exe"])
    assert entry.refresh([r"C:\New\opencode-tray.exe"])
    assert registry.values[RUN_KEY, RUN_VALUE_NAME] == rf"C:\New\opencode-tray.exe {BACKGROUND_ARG}"


# macOS: a LaunchAgent.


def test_launch_agent_path(tmp_path: Path) -> None:
    path = autostart.launch_agent_file(home=tmp_path)
    assert path == tmp_path / "Library" / "LaunchAgents" / f"{APP_ID}.plist"


def test_macos_is_off_by_default(tmp_path: Path) -> None:
    entry = LaunchAgent(tmp_path / f"{APP_ID}.plist")
    assert not entry.is_enabled()
    assert not entry.refresh(["/Applications/opencode-tray.app/Contents/MacOS/opencode-tray"])
    assert not entry.path.exists()


def test_macos_enable_writes_a_launch_agent(tmp_path: Path) -> None:
    entry = LaunchAgent(tmp_path / "LaunchAgents" / f"{APP_ID}.plist")
    command = ["/Applications/opencode tray.app/Contents/MacOS/opencode-tray"]
    entry.enable(command)
    assert entry.is_enabled()
    with entry.path.open("rb") as file:
        agent = plistlib.load(file)
    assert agent["Label"] == APP_ID
    assert agent["ProgramArguments"] == [*command, BACKGROUND_ARG]
    assert agent["RunAtLoad"] is True
    assert "KeepAlive" not in agent
    assert entry.refresh(["/Users/a/Applications/opencode-tray.app/Contents/MacOS/opencode-tray"])
    with entry.path.open("rb") as file:
        assert plistlib.load(file)["ProgramArguments"][0].startswith("/Users/a/")
    entry.disable()
    assert not entry.is_enabled()
    assert not entry.path.exists()


@pytest.mark.parametrize(
    "content",
    [
        b"not a plist",
        b"<?xml version='1.0'?><plist><dict><key>Label</key>",
        plistlib.dumps({"Label": APP_ID, "ProgramArguments": ["/x"], "Disabled": True}),
        plistlib.dumps(["/x"]),
    ],
)
def test_macos_broken_or_disabled_agent_reads_as_off(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / f"{APP_ID}.plist"
    path.write_bytes(content)
    assert not LaunchAgent(path).is_enabled()


# Choosing the platform.


@pytest.mark.skipif(sys.platform != "linux", reason="Linux picks XDG autostart")
def test_linux_uses_xdg_autostart_under_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    entry = autostart.for_platform()
    assert isinstance(entry, XdgAutostart)
    assert entry.path == tmp_path / "autostart" / "opencode-tray.desktop"
    assert not entry.is_enabled()


@pytest.mark.skipif(sys.platform != "linux", reason="Linux picks XDG autostart")
def test_module_functions_act_on_this_platforms_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "autostart" / "opencode-tray.desktop"
    assert not autostart.is_enabled()
    assert not autostart.refresh(["/usr/bin/opencode-tray"])
    autostart.enable(["/old/opencode-tray"])
    assert autostart.is_enabled()
    assert autostart.refresh(["/new/opencode-tray"])
    assert _exec_args(path) == ["/new/opencode-tray", BACKGROUND_ARG]
    autostart.disable()
    assert not autostart.is_enabled()
    assert not path.exists()
