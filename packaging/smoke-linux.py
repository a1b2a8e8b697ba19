"""Smoke-run the frozen Linux build on a virtual desktop, as CI does.

    .venv/bin/python packaging/smoke-linux.py             build, then run the checks
    .venv/bin/python packaging/smoke-linux.py --no-build  check the dist/opencode-tray/ there is

Builds `dist/opencode-tray/` and its tar.gz with packaging/build-linux.sh, then starts the FROZEN
executable on a `tests.desktop.VirtualDesktop` (Xvfb, a private session bus, an unlocked
gnome-keyring, an SNI tray, dunst) with its own settings file (the pinned opencode, a free port)
and checks, asking the frozen binary itself (`status --json`, `quit`) wherever it can:

- its tray item registers with the StatusNotifierWatcher, from its own process, with an icon;
- it reaches "connected" and reports the pyproject version and the server's;
- it stored the server password in gnome-keyring through Secret Service (read back from a child
  Python), the server accepts that password, and the log has no "No keyring available";
- its tray menu works over D-Bus: "Open in browser" runs xdg-open, "Settings…" opens the dialog;
- programs it starts (xdg-open, the server) get the user's environment, not the bundle's
  library and Qt plugin paths;
- notifications work frozen (dbus-fast to the freedesktop.org service): the server killed with
  SIGKILL gives a notification in dunst naming the signal, the app reconnects, and a click on
  the notification comes back to it;
- `quit` exits 0, the app ends with 0 and no opencode is left on the port; the log is clean.

Prints build time, bundle sizes, the glibc it needs and start/quit times; exits 1 with the
reason on any failure. Needs the virtual desktop of tests/TESTING.md section 2, binutils
(PyInstaller's objdump) and the pinned opencode. Logs and screenshots: build/smoke-linux/
(replaced at each run). About 30 s with the build.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

from tests.desktop import DesktopError, VirtualDesktop, missing_programs  # noqa: E402
from tests.support.processes import alive  # noqa: E402
from tray.core.settings import Settings  # noqa: E402
from tray.engine.server_password import ACCOUNT, SERVICE, USERNAME  # noqa: E402
from tray.platform.identity import APP_NAME, DISPLAY_NAME  # noqa: E402
from tray.settings import file as settings_file  # noqa: E402

DIST = ROOT / "dist"
BUNDLE = DIST / APP_NAME
EXECUTABLE = BUNDLE / APP_NAME
WORKDIR = ROOT / "build" / "smoke-linux"
PINNED_OPENCODE = ROOT / ".opencode" / "node_modules" / ".bin" / "opencode"
WATCHER = ("org.kde.StatusNotifierWatcher", "/StatusNotifierWatcher")
SNI_ITEM = "org.kde.StatusNotifierItem"
DBUSMENU = "com.canonical.dbusmenu"
MENU_ITEM = re.compile(r"\((\d+), \{[^{}]*'label': <'([^']*)'>")
SECRET_SERVICE_BACKEND = "keyring.backends.SecretService.Keyring"
NO_KEYRING = "No keyring available"
NO_NOTIFIER = "Desktop notifications unavailable"
# Anything in the environment that could make the frozen app use something outside its bundle.
FOREIGN_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHON_KEYRING_BACKEND")
# Paths of the user's own that the bundle overrides for itself: programs it starts get them back.
USER_PATHS = {"LD_LIBRARY_PATH": "/opt/smoke-user/lib", "QT_PLUGIN_PATH": "/opt/smoke-user/qt"}

START_TIMEOUT_S = 60.0
NOTICE_TIMEOUT_S = 20.0
QUIT_TIMEOUT_S = 20.0

T = TypeVar("T")


class SmokeFailure(Exception):
    """A check failed; the message says which and what was seen."""


@dataclass
class Measures:
    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, value: str) -> None:
        self.rows.append((name, value))

    def seconds(self, name: str, value: float) -> None:
        self.add(name, f"{value:.1f} s")

    def table(self) -> str:
        width = max(len(name) for name, _ in self.rows)
        return "\n".join(f"  {name:<{width}}  {value:>10}" for name, value in self.rows)


def say(text: str) -> None:
    print(f"[smoke] {text}", flush=True)


def wait_until(condition: Callable[[], T | None], what: str, timeout: float) -> T:
    """Poll `condition` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SmokeFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.0f} MB"


def folder_size(path: Path) -> int:
    return sum(item.lstat().st_size for item in path.rglob("*") if not item.is_dir())


def glibc_needed(folder: Path) -> str:
    """The newest glibc symbol version the bundle's binaries ask for: the oldest glibc it runs on
    (the build machine's, at most)."""
    versions: set[tuple[int, int]] = set()
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as file:
            if file.read(4) != b"\x7fELF":
                continue
        found = re.findall(rb"GLIBC_(\d+)\.(\d+)", path.read_bytes())
        versions.update((int(major), int(minor)) for major, minor in found)
    if not versions:
        raise SmokeFailure(f"no ELF binary in {folder} asks for glibc: not a Linux build?")
    major, minor = max(versions)
    return f"{major}.{minor}"


def pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


# -- the build -----------------------------------------------------------------------------------


def build(measures: Measures) -> Path:
    """packaging/build-linux.sh with this Python; the archive it made."""
    say("building with packaging/build-linux.sh")
    log = WORKDIR / "build.log"
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            [str(ROOT / "packaging" / "build-linux.sh")],
            env=os.environ | {"PYTHON": sys.executable},
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            check=False,
        )
    measures.seconds("build time", time.monotonic() - started)
    if done.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise SmokeFailure(f"build-linux.sh exited {done.returncode} (log: {log}):\n{tail}")
    return ROOT / done.stdout.strip().splitlines()[-1]


def existing_archive() -> Path | None:
    archive = DIST / f"{APP_NAME}-{pyproject_version()}-linux-{os.uname().machine}.tar.gz"
    return archive if archive.is_file() else None


def check_bundle(archive: Path | None, measures: Measures) -> None:
    if not os.access(EXECUTABLE, os.X_OK):
        raise SmokeFailure(f"no frozen executable at {EXECUTABLE}: build it (drop --no-build)")
    measures.add("bundle folder", megabytes(folder_size(BUNDLE)))
    if archive is None:
        measures.add("bundle tar.gz", "not built")
    else:
        measures.add("bundle tar.gz", megabytes(archive.stat().st_size))
        with tarfile.open(archive) as tar:
            names = set(tar.getnames())
        if f"{APP_NAME}/{APP_NAME}" not in names:
            raise SmokeFailure(f"{archive.name} does not hold {APP_NAME}/{APP_NAME}")
    measures.add("needs glibc >=", glibc_needed(BUNDLE))


# -- the frozen app on the desktop ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FrozenApp:
    """The frozen executable on `desk`: the app itself, its command line and its tray menu."""

    def __init__(self, desk: VirtualDesktop, opencode: Path, port: int) -> None:
        self.desk = desk
        self.port = port
        self.output = WORKDIR / "app-output.log"
        self.opened = WORKDIR / "opened.txt"
        self.browser_env = WORKDIR / "xdg-open.env"
        # Qt opens URLs with xdg-open: this one notes the URL and the environment it was given.
        bin_dir = WORKDIR / "bin"
        bin_dir.mkdir()
        fake_open = bin_dir / "xdg-open"
        fake_open.write_text(
            f'#!/bin/sh\nenv -0 > "{self.browser_env}"\nprintf "%s\\n" "$1" >> "{self.opened}"\n'
        )
        fake_open.chmod(0o755)
        venv_bin = str(Path(sys.executable).parent)
        path = [part for part in os.environ["PATH"].split(os.pathsep) if part != venv_bin]
        self.env = {k: v for k, v in desk.env.items() if k not in FOREIGN_ENV} | {
            "PATH": os.pathsep.join([str(bin_dir), *path]),
            "npm_config_offline": "true",
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_MODELS_FETCH": "1",
            **USER_PATHS,
        }
        project = desk.home / "project"
        project.mkdir()
        settings = Settings(
            opencode_path=str(opencode),
            port=port,
            working_directory=str(project),
            notification_grace_s=0.0,
        )
        settings_file.save(desk.home / ".config" / APP_NAME / "settings.toml", settings)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        with self.output.open("wb") as out:
            self._proc = subprocess.Popen(
                [str(EXECUTABLE)], env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        return time.monotonic()

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise SmokeFailure("the app was never started")
        return self._proc

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise SmokeFailure(f"the frozen app exited with {self.process.returncode}")

    def cli(self, *args: str) -> tuple[int, str]:
        """Run the frozen executable with `args`: its exit code and what it printed."""
        try:
            done = subprocess.run(
                [str(EXECUTABLE), *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise SmokeFailure(f"`{APP_NAME} {' '.join(args)}` hung for 30 s") from error
        return done.returncode, done.stdout + done.stderr

    def status(self) -> tuple[int, dict[str, Any]]:
        code, out = self.cli("status", "--json")
        try:
            data: dict[str, Any] = json.loads(out)
        except json.JSONDecodeError as error:
            raise SmokeFailure(f"`status --json` exited {code} and printed {out!r}") from error
        return code, data

    def connected(self) -> dict[str, Any] | None:
        self.check_alive()
        code, data = self.status()
        return data if code == 0 and data["state"] == "connected" else None

    def log_text(self) -> str:
        """The app's log file and whatever it wrote to stdout and stderr."""
        files = [*self.desk.home.rglob(f"{APP_NAME}.log*"), self.output]
        return "\n".join(path.read_text(errors="replace") for path in files if path.is_file())

    def opened_urls(self) -> list[str]:
        return self.opened.read_text().split() if self.opened.exists() else []

    # -- the tray item, as the panel sees it ------------------------------------------------------

    def gdbus(self, dest: str, path: str, method: str, *args: str) -> str:
        return self.desk.run(
            "gdbus", "call", "--session", "--dest", dest, "--object-path", path,
            "--method", method, *args,
        )  # fmt: skip

    def tray_item(self) -> tuple[str, str] | None:
        """The StatusNotifierItem this process registered: its bus name and object path."""
        self.check_alive()
        out = self.gdbus(
            WATCHER[0], WATCHER[1], "org.freedesktop.DBus.Properties.Get",
            WATCHER[0], "RegisteredStatusNotifierItems",
        )  # fmt: skip
        for item in re.findall(r"'([^']+)'", out):
            service, _, path = item.partition("/")
            owner = self.gdbus(
                "org.freedesktop.DBus", "/org/freedesktop/DBus",
                "org.freedesktop.DBus.GetConnectionUnixProcessID", service,
            )  # fmt: skip
            if re.search(rf"\b{self.pid}\b", owner):
                return service, f"/{path}" if path else "/StatusNotifierItem"
        return None

    def item_property(self, name: str) -> str:
        service, path = wait_until(self.tray_item, "the app's tray item", START_TIMEOUT_S)
        return self.gdbus(service, path, "org.freedesktop.DBus.Properties.Get", SNI_ITEM, name)

    def _menu(self) -> tuple[str, str]:
        """The bus name and object path of the tray item's menu (com.canonical.dbusmenu)."""
        service, _ = wait_until(self.tray_item, "the app's tray item", START_TIMEOUT_S)
        menu = re.search(r"objectpath '([^']+)'", self.item_property("Menu"))
        if menu is None:
            raise SmokeFailure("the tray item has no menu")
        return service, menu.group(1)

    def menu_labels(self) -> dict[str, int]:
        """The tray menu's entries as the panel reads them: label -> id."""
        service, menu = self._menu()
        self.gdbus(service, menu, f"{DBUSMENU}.AboutToShow", "0")
        layout = self.gdbus(service, menu, f"{DBUSMENU}.GetLayout", "--", "0", "-1", "[]")
        return {label: int(item) for item, label in MENU_ITEM.findall(layout)}

    def click_menu(self, label: str) -> None:
        service, menu = self._menu()
        item = self.menu_labels().get(label)
        if item is None:
            raise SmokeFailure(f"no {label!r} in the tray menu")
        self.gdbus(service, menu, f"{DBUSMENU}.Event", str(item), "clicked", "<0>", "0")

    def window_titles(self) -> list[str]:
        try:
            ids = self.desk.run("xdotool", "search", "--onlyvisible", "--name", ".").split()
        except DesktopError:  # xdotool exits 1 when no window matches
            return []
        return [self.desk.run("xdotool", "getwindowname", wid).strip() for wid in ids]

    def servers(self) -> list[psutil.Process]:
        """The app's opencode servers, found as its children (behind the front door they listen
        on private ports, so not by the public one)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            children = psutil.Process(proc.pid).children(recursive=True)
            return [child for child in children if "serve" in _cmdline(child)]
        return []

    def stop(self) -> None:
        """Kill whatever is left of the app and its servers (after a failure)."""
        leftovers: list[psutil.Process] = []
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftovers += psutil.Process(proc.pid).children(recursive=True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for leftover in leftovers:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        psutil.wait_procs(leftovers, timeout=10)


def check_tray(app: FrozenApp, started: float, measures: Measures) -> None:
    service, path = wait_until(
        app.tray_item, "the app's item at the StatusNotifierWatcher", START_TIMEOUT_S
    )
    measures.seconds("start -> tray registered", time.monotonic() - started)
    if not app.desk.tray_host_registered():
        raise SmokeFailure("the SNI tray host is gone")
    pixmap = app.item_property("IconPixmap")
    if len(pixmap) < 1000:  # an icon that failed to load leaves an empty pixmap list
        raise SmokeFailure(f"the tray item has no icon (resources not bundled?): {pixmap[:200]}")
    say(f"tray item {service}{path} registered, with an icon")


def check_connected(
    app: FrozenApp, started: float, server_version: str, measures: Measures
) -> dict[str, Any]:
    status = wait_until(app.connected, '"connected" from `status --json`', START_TIMEOUT_S)
    measures.seconds("start -> connected", time.monotonic() - started)
    say(f"connected: {status['server']['url']} (server pid {status['server']['pid']})")
    wanted = {
        "app version": (status["app"]["version"], pyproject_version()),
        "app pid": (status["app"]["pid"], app.pid),
        "server version": (status["server"]["version"], server_version),
        "server url": (status["server"]["url"], f"http://127.0.0.1:{app.port}"),
    }
    for what, (seen, expected) in wanted.items():
        if seen != expected:
            raise SmokeFailure(f"`status --json` says {what} {seen!r}, expected {expected!r}")
    return status


def check_keyring(app: FrozenApp, status: dict[str, Any]) -> None:
    """The password is in gnome-keyring (Secret Service) and is the one the server uses."""
    lookup = f"import keyring; print(keyring.get_password({SERVICE!r}, {ACCOUNT!r}) or '', end='')"
    done = subprocess.run(
        [sys.executable, "-c", lookup],
        env=app.env | {"PYTHON_KEYRING_BACKEND": SECRET_SERVICE_BACKEND},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode or not done.stdout:
        raise SmokeFailure(
            f"no {SERVICE}/{ACCOUNT} password in gnome-keyring (exit {done.returncode}): "
            f"{done.stderr.strip()[-500:]}"
        )
    health = f"{status['server']['url']}/global/health"
    with_password = httpx.get(health, auth=(USERNAME, done.stdout), timeout=10)
    without = httpx.get(health, timeout=10)
    if (with_password.status_code, without.status_code) != (200, 401):
        raise SmokeFailure(
            f"the server answers {with_password.status_code} with the keyring's password and "
            f"{without.status_code} without: it does not use the stored password"
        )
    log = app.log_text()
    if NO_KEYRING in log:
        line = next(line for line in log.splitlines() if NO_KEYRING in line)
        raise SmokeFailure(f"the frozen app found no keyring backend: {line}")
    say("the server password is in gnome-keyring (Secret Service) and the server takes it")


def check_started_env(app: FrozenApp, program: str, env: dict[str, str]) -> None:
    """A program the app started got the user's environment: no library or Qt plugin path into
    the bundle (a system program would load the bundle's glib or Qt), no bootloader state, and
    the user's own paths back."""
    leaked = sorted(
        name
        for name, value in env.items()
        if (str(BUNDLE) in value or name.startswith("_PYI_")) and app.env.get(name) != value
    )
    if leaked:
        shown = ", ".join(f"{name}={env[name]!r}" for name in leaked)
        raise SmokeFailure(
            f"{program} inherited the bundle's environment: {shown} "
            "(see packaging/pyi_rth_user_env.py)"
        )
    for name, value in USER_PATHS.items():
        if env.get(name) != value:
            raise SmokeFailure(f"{program} got {name}={env.get(name)!r}, not the user's {value!r}")


def check_menu(app: FrozenApp, status: dict[str, Any]) -> None:
    """The menu is the app's; "Open in browser" starts xdg-open with the user's environment;
    "Settings…" opens the dialog."""
    labels = wait_until(app.menu_labels, "the tray menu", START_TIMEOUT_S)
    for label in ("Connected", "Open in browser", "Settings…", "Quit"):
        if label not in labels:
            raise SmokeFailure(f"no {label!r} in the tray menu: {sorted(labels)}")
    app.click_menu("Open in browser")
    url = wait_until(app.opened_urls, "xdg-open from Open in browser", NOTICE_TIMEOUT_S)[-1]
    if not url.startswith(status["server"]["url"]):
        raise SmokeFailure(f"Open in browser opened {url!r}")
    pairs = app.browser_env.read_bytes().decode(errors="replace").split("\0")
    check_started_env(app, "xdg-open", dict(pair.split("=", 1) for pair in pairs if "=" in pair))
    check_started_env(app, "the opencode server", psutil.Process(status["server"]["pid"]).environ())
    app.click_menu("Settings…")
    wait_until(
        lambda: any("Settings" in title for title in app.window_titles()),
        "the settings dialog",
        NOTICE_TIMEOUT_S,
    )
    app.desk.screenshot(WORKDIR / "settings.png")
    say("the tray menu works; xdg-open and the server got the user's environment")


def check_notification(app: FrozenApp, status: dict[str, Any], measures: Measures) -> None:
    """SIGKILL the server: a notification shows why in dunst, the app restarts the server, and
    a click on the notification opens the browser."""
    killed_at = time.monotonic()
    os.kill(status["server"]["pid"], signal.SIGKILL)
    wait_until(
        lambda: app.desk.notification_count() >= 1, "a notification in dunst", NOTICE_TIMEOUT_S
    )
    measures.seconds("kill -> notification", time.monotonic() - killed_at)
    app.desk.screenshot(WORKDIR / "notification.png")
    if NO_NOTIFIER in app.log_text():
        raise SmokeFailure("notifications failed in the frozen app (see its log)")
    again = wait_until(app.connected, "the app to reconnect", START_TIMEOUT_S)
    measures.seconds("kill -> reconnected", time.monotonic() - killed_at)
    if again["server"]["restarts"] != 1:
        raise SmokeFailure(f"expected 1 restart, `status --json` says {again['server']}")
    opened = len(app.opened_urls())
    app.desk.click_notification()
    wait_until(
        lambda: len(app.opened_urls()) > opened, "the browser from a click", NOTICE_TIMEOUT_S
    )
    shown = app.desk.history()
    if not any(
        item.get("appname") == DISPLAY_NAME and "SIGKILL" in str(item.get("body")) for item in shown
    ):
        raise SmokeFailure(f"no notification from {DISPLAY_NAME!r} names SIGKILL: {shown}")
    say("dunst showed the SIGKILL, its click came back; server restarted")


def _cmdline(process: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return process.cmdline()
    return []


def check_quit(app: FrozenApp, measures: Measures) -> None:
    servers = app.servers()
    if not servers:
        raise SmokeFailure("no opencode server found among the app's children before quit")
    asked = time.monotonic()
    code, out = app.cli("quit")
    if code:
        raise SmokeFailure(f"`{APP_NAME} quit` exited {code}: {out.strip()}")
    try:
        ended = app.process.wait(QUIT_TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        raise SmokeFailure(f"the app still ran {QUIT_TIMEOUT_S:.0f} s after quit") from error
    measures.seconds("quit -> app ended", time.monotonic() - asked)
    if ended:
        raise SmokeFailure(f"the app ended with {ended} after quit")
    left = alive(servers)
    if left:
        raise SmokeFailure(f"the app's opencode servers still run after quit: {left}")
    code, data = app.status()
    if (code, data.get("state")) != (3, "not_running"):
        raise SmokeFailure(f"after quit `status --json` exited {code}: {data}")
    say("quit: the app ended with 0 and no opencode is left")


def check_log(app: FrozenApp) -> None:
    log = app.log_text()
    for bad in ("Traceback", "unhandled error", "ModuleNotFoundError"):
        if bad in log:
            raise SmokeFailure(f"the app's log says {bad!r}: see {WORKDIR}")


@contextlib.contextmanager
def frozen_app(desk: VirtualDesktop, opencode: Path) -> Iterator[FrozenApp]:
    app = FrozenApp(desk, opencode, free_port())
    try:
        yield app
    finally:
        app.stop()


def run_checks(opencode: Path, server_version: str, measures: Measures) -> None:
    with (
        VirtualDesktop(WORKDIR / "desktop", keyring=True) as desk,
        frozen_app(desk, opencode) as app,
    ):
        say(f"virtual desktop up in {desk.timings['total']:.1f} s; starting {EXECUTABLE}")
        started = app.start()
        check_tray(app, started, measures)
        status = check_connected(app, started, server_version, measures)
        desk.screenshot(WORKDIR / "connected.png")
        check_keyring(app, status)
        asked = time.monotonic()
        app.status()
        measures.seconds("`status --json` call", time.monotonic() - asked)
        check_menu(app, status)
        check_notification(app, status, measures)
        check_quit(app, measures)
        check_log(app)


def preflight(opencode: Path, *, building: bool) -> str:
    """Checks what the run needs; the opencode binary's version."""
    missing = missing_programs(tray=True, notifications=True, keyring=True)
    missing += [name for name in ("gdbus",) if shutil.which(name) is None]
    if missing:
        raise SmokeFailure(
            f"missing programs: {', '.join(missing)} (apt packages: the APT_DESKTOP list in ./dev)"
        )
    if building and shutil.which("objdump") is None:
        raise SmokeFailure("PyInstaller needs objdump to build on Linux: apt-get install binutils")
    if not os.access(opencode, os.X_OK):
        raise SmokeFailure(f"no opencode binary at {opencode} (./dev test installs it)")
    done = subprocess.run(
        [str(opencode), "--version"],
        env=os.environ | {"OPENCODE_DISABLE_AUTOUPDATE": "1", "npm_config_offline": "true"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode or not done.stdout.strip():
        raise SmokeFailure(f"`{opencode} --version` exited {done.returncode}: {done.stderr[-500:]}")
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--no-build", action="store_true", help="check the existing dist/opencode-tray/"
    )
    parser.add_argument(
        "--opencode",
        type=Path,
        default=Path(os.environ.get("OPENCODE_TRAY_TEST_BINARY") or PINNED_OPENCODE),
        help="the opencode binary the app runs (default: the pinned one)",
    )
    args = parser.parse_args(argv)
    # A CI timeout's SIGTERM unwinds like Ctrl-C: the desktop, the app and its server are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    measures = Measures()
    began = time.monotonic()
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    try:
        server_version = preflight(args.opencode, building=not args.no_build)
        archive = existing_archive() if args.no_build else build(measures)
        check_bundle(archive, measures)
        run_checks(args.opencode.absolute(), server_version, measures)
    except (SmokeFailure, DesktopError) as error:
        print(f"\nSMOKE FAILED: {error}\n(logs and screenshots: {WORKDIR})", file=sys.stderr)
        if measures.rows:
            print(measures.table(), file=sys.stderr)
        return 1
    measures.seconds("whole smoke run", time.monotonic() - began)
    print(f"\nfrozen Linux build OK ({EXECUTABLE.relative_to(ROOT)})\n{measures.table()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
