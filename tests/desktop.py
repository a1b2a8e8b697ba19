"""A virtual desktop for end-to-end tests: X server, session bus, tray, notifications, keyring.

    with VirtualDesktop(tmp_path, keyring=True) as desk:
        subprocess.Popen([...], env=desk.env)     # a program that sees only this desktop
        desk.wait_for(lambda: desk.notification_count() == 1, "a notification")
        desk.click_notification()                 # `dunstctl action 0`, then `dunstctl close`
        desk.choose_action("Restart server")      # a button, through `dunstctl context`
        desk.screenshot(tmp_path / "shot.png")    # then look at it

Started in order, each piece waited for before the next (see tests/TESTING.md section 2): Xvfb on
a free display, a private session bus without D-Bus activation (so nothing can start a second
dunst or a stray daemon behind our back), optionally gnome-keyring (unlocked; or locked, asking
through gcr-prompter, the one service the bus may start: tests/TESTING.md section 2), a
StatusNotifierItem tray (status-notifier-watcher + gtk-sni-tray-standalone) and dunst with a
configuration that makes clicks scriptable. Everything runs in its own process group and is
killed on exit; a piece that fails to start raises with the tail of its log (all logs are in
`workdir/logs`). `timings` says how long each piece took to come up (about 0.2 s in all).

`env` is for child processes and leaves `os.environ` alone. In-process code that talks D-Bus
(dbus-fast reads DBUS_SESSION_BUS_ADDRESS when it connects) needs the variable set while it
connects: `monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", desk.bus_address)`.

Tests using it are marked `e2e`; they skip, saying which, when a program is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

NOTIFICATIONS = "org.freedesktop.Notifications"
SNI_WATCHER = "org.kde.StatusNotifierWatcher"
SECRETS = "org.freedesktop.secrets"
KEYRING_PASSWORD = "pw"
GCR_PROMPTER = "/usr/libexec/gcr-prompter"
DESKTOP_COLOUR = "#3c5a78"
TRAY_COLOUR = "#1e1e1e"

# The pictures README shows that the e2e run makes, as the last run made them: look, then copy
# them into resources/screenshots/ (tests/test_readme_pictures.py holds README to these names).
README_SHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={runtime}</listen>
  <auth>EXTERNAL</auth>
  {services}
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# Nothing expires while a test runs: low and normal after a day, critical never (so a history
# entry's "timeout" of 0 tells a critical notification: dunst does not list the urgency); equal
# texts are not merged into one "(2)", so that notifications can be counted honestly. A left
# click runs the default action and closes; `dunstctl context` pipes the actions through
# `dmenu`, a script that picks the first line containing the text in `pick` (`choose_action`).
_DUNSTRC = """[global]
    monitor = 0
    follow = none
    origin = top-right
    offset = 12x44
    width = 420
    height = 200
    notification_limit = 0
    font = DejaVu Sans 10
    frame_width = 2
    frame_color = "#8f8f8f"
    separator_height = 2
    padding = 10
    horizontal_padding = 12
    corner_radius = 4
    markup = full
    format = "<b>%s</b>\\n%b"
    alignment = left
    word_wrap = yes
    ellipsize = middle
    ignore_newline = no
    show_indicators = yes
    icon_position = left
    min_icon_size = 32
    max_icon_size = 48
    sticky_history = yes
    history_length = 100
    stack_duplicates = false
    idle_threshold = 0
    dmenu = {dmenu}
    mouse_left_click = do_action, close_current
    mouse_middle_click = close_current
    mouse_right_click = close_all

[urgency_low]
    background = "#2b2b2b"
    foreground = "#d0d0d0"
    timeout = 86400

[urgency_normal]
    background = "#2b2b2b"
    foreground = "#ffffff"
    timeout = 86400

[urgency_critical]
    background = "#7a1f1f"
    foreground = "#ffffff"
    frame_color = "#ff6060"
    timeout = 0
"""

_PICKER = """#!/bin/sh
exec grep -m1 -F -- "$(cat '{pick}')"
"""


def missing_programs(*, tray: bool, notifications: bool, keyring: bool) -> list[str]:
    wanted = ["Xvfb", "dbus-daemon", "dbus-send", "import"]
    if notifications:
        wanted += ["dunst", "dunstctl"]
    if tray:
        wanted += ["status-notifier-watcher", "gtk-sni-tray-standalone"]
    if keyring:
        wanted.append("gnome-keyring-daemon")
    return [name for name in wanted if shutil.which(name) is None]


class DesktopError(RuntimeError):
    pass


class VirtualDesktop:
    """A private X display and session bus with a tray, dunst and optionally a keyring."""

    def __init__(
        self,
        workdir: Path,
        *,
        tray: bool = True,
        notifications: bool = True,
        keyring: bool = False,
        keyring_locked: bool = False,
        prompter_display: bool = True,
        screen: str = "1024x768x24",
        start_timeout_s: float = 20.0,
    ) -> None:
        self.workdir = workdir
        self.tray = tray
        self.notifications = notifications
        self.keyring = keyring or keyring_locked
        # A fresh keyring without --unlock: the first Secret Service call opens a prompt ("Choose
        # password for new keyring") on the display, or, for a prompter that cannot open the
        # display, fails at once with "Prompt dismissed".
        self.keyring_locked = keyring_locked
        self.prompter_display = prompter_display
        self.screen = screen
        self.start_timeout_s = start_timeout_s
        self.home = workdir / "home"
        self.logs = workdir / "logs"
        self.display = ""
        self.bus_address = ""
        self.timings: dict[str, float] = {}  # seconds each piece took to come up
        self._runtime: Path | None = None
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._pick = workdir / "dmenu-pick"

    # -- what tests use --------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """An environment for child processes: this display and bus, a private home, X11 Qt."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
            and not k.startswith("XDG_")
        }
        env.update(
            DISPLAY=self.display,
            DBUS_SESSION_BUS_ADDRESS=self.bus_address,
            HOME=str(self.home),
            XDG_RUNTIME_DIR=str(self._runtime),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local/share"),
            XDG_STATE_HOME=str(self.home / ".local/state"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_CURRENT_DESKTOP="X-Generic",
            XDG_SESSION_TYPE="x11",
            NO_AT_BRIDGE="1",  # GTK would look for the accessibility bus
            GSETTINGS_BACKEND="memory",  # and for dconf
        )
        return env

    def run(self, *args: str, timeout: float = 10.0) -> str:
        """Run a program on this desktop; its stdout. Raises on a non-zero exit."""
        done = subprocess.run(
            args, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode:
            raise DesktopError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def dunstctl(self, *args: str) -> str:
        return self.run("dunstctl", *args).strip()

    def notification_count(self) -> int:
        """Notifications on screen or waiting for room."""
        return int(self.dunstctl("count", "displayed")) + int(self.dunstctl("count", "waiting"))

    def history(self) -> list[dict[str, Any]]:
        """Closed notifications, newest first: dicts of summary, body, appname, ... (strings)."""
        data = json.loads(self.dunstctl("history"))
        return [{key: field.get("data") for key, field in item.items()} for item in data["data"][0]]

    def click_notification(self) -> None:
        """What a left click does: the newest notification's default action, then it closes."""
        self.dunstctl("action", "0")
        self.dunstctl("close")

    def choose_action(self, label: str) -> None:
        """Pick the action (button) whose line in dunst's context menu contains `label`."""
        self._pick.write_text(label)
        self.dunstctl("context")

    def screenshot(self, path: Path) -> Path:
        self.run("import", "-window", "root", str(path))
        return path

    def has_owner(self, name: str) -> bool:
        reply = self.run(
            "dbus-send",
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            f"string:{name}",
        )
        return "boolean true" in reply

    def tray_host_registered(self) -> bool:
        reply = self.run(
            "dbus-send",
            "--session",
            "--print-reply",
            f"--dest={SNI_WATCHER}",
            "/StatusNotifierWatcher",
            "org.freedesktop.DBus.Properties.Get",
            f"string:{SNI_WATCHER}",
            "string:IsStatusNotifierHostRegistered",
        )
        return "boolean true" in reply

    def wait_for(
        self, condition: Callable[[], bool], what: str = "condition", timeout: float = 10.0
    ) -> None:
        """Poll `condition` (blocking) until true; raise naming `what` and any dead piece."""
        deadline = time.monotonic() + timeout
        while not condition():
            self._check_alive()
            if time.monotonic() > deadline:
                raise DesktopError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.02)

    @property
    def pids(self) -> list[int]:
        return [proc.pid for _, proc in self._procs]

    def end_display(self) -> None:
        """Stop the X server, as a crash or the end of a session does (the rest stays up)."""
        xvfb = next(proc for name, proc in self._procs if name == "xvfb")
        xvfb.terminate()
        xvfb.wait(10)

    # -- starting and stopping -------------------------------------------------------------------

    def __enter__(self) -> VirtualDesktop:
        missing = missing_programs(
            tray=self.tray, notifications=self.notifications, keyring=self.keyring
        )
        if self.keyring_locked:
            missing += [p for p in (GCR_PROMPTER, "xdotool") if shutil.which(p) is None]
        if missing:
            pytest.skip(
                f"virtual desktop needs {', '.join(missing)} (see tests/TESTING.md section 2)"
            )
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        started = time.monotonic()
        for folder in (self.home, self.logs, self.home / ".config", self.home / ".local/share"):
            folder.mkdir(parents=True, exist_ok=True)
        # Socket paths must stay short: a private runtime dir under /tmp, not under workdir.
        self._runtime = Path(tempfile.mkdtemp(prefix="vdesk-"))
        self._step("xvfb", self._start_x)
        self._step("bus", self._start_bus)
        if self.keyring:
            self._step("keyring", self._start_keyring)
        if self.tray:
            self._step("tray", self._start_tray)
        if self.notifications:
            self._step("dunst", self._start_dunst)
        self.timings["total"] = time.monotonic() - started

    def _step(self, name: str, start: Callable[[], None]) -> None:
        began = time.monotonic()
        start()
        self.timings[name] = time.monotonic() - began

    def _spawn(
        self, name: str, args: list[str], *, stdin: int | None = None, **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        try:
            proc = subprocess.Popen(
                args,
                env=self.env,
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=kwargs.pop("stdout", log),
                stderr=log,
                start_new_session=True,
                **kwargs,
            )
        finally:
            log.close()
        self._procs.append((name, proc))
        return proc

    def _start_x(self) -> None:
        read_end, write_end = os.pipe()
        try:
            self._spawn(
                "xvfb",
                [
                    "Xvfb",
                    "-displayfd",
                    str(write_end),
                    "-screen",
                    "0",
                    self.screen,
                    "-nolisten",
                    "tcp",
                    "-noreset",  # the last client leaving must not wipe the screen
                ],
                pass_fds=(write_end,),
            )
            os.close(write_end)
            write_end = -1
            self.display = ":" + self._read_line(read_end, "xvfb")
        finally:
            os.close(read_end)
            if write_end != -1:
                os.close(write_end)
        if shutil.which("xsetroot"):  # a desktop colour, so that screenshots read well
            self.run("xsetroot", "-solid", DESKTOP_COLOUR)

    def _start_bus(self) -> None:
        config = self.workdir / "bus.conf"
        services = ""
        if self.keyring_locked:
            services = f"<servicedir>{self._prompter_services()}</servicedir>"
        config.write_text(_BUS_CONFIG.format(runtime=self._runtime, services=services))
        read_end, write_end = os.pipe()
        try:
            self._spawn(
                "bus",
                [
                    "dbus-daemon",
                    f"--config-file={config}",
                    "--nofork",
                    f"--print-address={write_end}",
                ],
                pass_fds=(write_end,),
            )
            os.close(write_end)
            write_end = -1
            self.bus_address = self._read_line(read_end, "bus")
        finally:
            os.close(read_end)
            if write_end != -1:
                os.close(write_end)

    def _prompter_services(self) -> Path:
        """D-Bus service files that start gcr-prompter (and nothing else) when the keyring asks."""
        folder = self.workdir / "dbus-services"
        folder.mkdir(exist_ok=True)
        log = self.logs / "gcr-prompter.log"
        blind = "" if self.prompter_display else "env -u DISPLAY "
        command = f"/bin/sh -c '{blind}exec {GCR_PROMPTER} >>{log} 2>&1'"
        for name in ("org.gnome.keyring.SystemPrompter", "org.gnome.keyring.PrivatePrompter"):
            (folder / f"{name}.service").write_text(
                f"[D-BUS Service]\nName={name}\nExec={command}\n"
            )
        return folder

    def keyring_prompt(self) -> str | None:
        """The X window id of the keyring's prompt, when it shows one."""
        try:
            found = self.run("xdotool", "search", "--onlyvisible", "--class", "gcr-prompter")
        except DesktopError:  # none
            return None
        return found.split()[0] if found.split() else None

    def answer_keyring_prompt(self, password: str = KEYRING_PASSWORD) -> None:
        """Type a new keyring's password twice and press Return, as a person does."""
        window = self.keyring_prompt()
        if window is None:
            raise DesktopError("no keyring prompt to answer")
        self.run("xdotool", "windowfocus", "--sync", window)  # no window manager: focus it
        for step in (["type", password], ["key", "Tab"], ["type", password], ["key", "Return"]):
            self.run("xdotool", *step)

    def _start_keyring(self) -> None:
        if self.keyring_locked:
            self._spawn("keyring", ["gnome-keyring-daemon", "--foreground", "--components=secrets"])
            self.wait_for(lambda: self.has_owner(SECRETS), SECRETS, self.start_timeout_s)
            return
        proc = self._spawn(
            "keyring",
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(KEYRING_PASSWORD.encode())
        proc.stdin.close()
        self.wait_for(lambda: self.has_owner(SECRETS), SECRETS, self.start_timeout_s)

    def _start_tray(self) -> None:
        self._spawn("sni-watcher", ["status-notifier-watcher"])
        self.wait_for(lambda: self.has_owner(SNI_WATCHER), SNI_WATCHER, self.start_timeout_s)
        self._spawn(
            "sni-tray",
            ["gtk-sni-tray-standalone", "--top", "--end", "--size", "32", "--color", TRAY_COLOUR],
        )
        self.wait_for(self.tray_host_registered, "the SNI tray host", self.start_timeout_s)

    def _start_dunst(self) -> None:
        picker = self.workdir / "dmenu-pick.sh"
        picker.write_text(_PICKER.format(pick=self._pick))
        picker.chmod(0o755)
        self._pick.write_text("\n")
        rc = self.workdir / "dunstrc"
        rc.write_text(_DUNSTRC.format(dmenu=picker))
        self._spawn("dunst", ["dunst", "-config", str(rc)])
        self.wait_for(lambda: self.has_owner(NOTIFICATIONS), NOTIFICATIONS, self.start_timeout_s)

    def _read_line(self, fd: int, name: str) -> str:
        """The first line a piece writes to `fd`: Xvfb's display, the bus's address."""
        deadline = time.monotonic() + self.start_timeout_s
        data = b""
        os.set_blocking(fd, False)
        while not data.endswith(b"\n"):
            try:
                chunk = os.read(fd, 256)
            except BlockingIOError:
                chunk = None
            if chunk == b"":
                raise DesktopError(f"{name} closed its output before saying where it is")
            if chunk:
                data += chunk
                continue
            self._check_alive()
            if time.monotonic() > deadline:
                raise DesktopError(f"{name} did not start within {self.start_timeout_s} s")
            time.sleep(0.01)
        return data.decode().strip()

    def _check_alive(self) -> None:
        for name, proc in self._procs:
            if proc.poll() is not None:
                log = (self.logs / f"{name}.log").read_text(errors="replace")
                tail = "\n".join(log.splitlines()[-15:])
                raise DesktopError(f"{name} exited with {proc.returncode}:\n{tail}")

    def close(self) -> None:
        """Stop every piece, newest first: SIGTERM to its group, SIGKILL after 3 s."""
        while self._procs:
            _, proc = self._procs.pop()
            _kill_group(proc)
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)
            self._runtime = None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group, then SIGKILL to whatever of it is left, leader or children."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(3.0)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5.0)


def keep_for_readme(shot: Path) -> Path:
    """Copy a screenshot README shows into README_SHOTS, under its own name."""
    README_SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, README_SHOTS / shot.name)
    return shot


@pytest.fixture
def virtual_desktop(tmp_path: Path) -> Iterator[VirtualDesktop]:
    """The whole desktop (tray, dunst, unlocked keyring) for one test. Use it with
    `pytest_plugins = ["tests.desktop"]` in the test module or the root conftest."""
    with VirtualDesktop(tmp_path / "desktop", keyring=True) as desk:
        yield desk
