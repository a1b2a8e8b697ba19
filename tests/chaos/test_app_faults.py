"""Faults met by the whole app, on a virtual desktop with a real tray, dunst and the real server:
its server killed again and again (one desktop notification per incident), and the app itself
killed and started again, without a keyring and with a corrupted settings file, and a server an
earlier run left on the public port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from tests.chaos.helpers import Sessions, Snapshot, assert_no_secret, leftovers
from tests.desktop import VirtualDesktop
from tests.e2e.app_driver import AppDriver
from tests.support.waiting import block_until
from tray.core.notice_pacing import MIN_SHOWN_S
from tray.core.notify_policy import RECOVERED_TITLE
from tray.core.settings import Settings
from tray.engine.leftover import RecordFile
from tray.engine.server_password import USERNAME

# Three app and server starts each, up to START_S apiece on a busy machine.
pytestmark = [pytest.mark.chaos, pytest.mark.server, pytest.mark.timeout(420)]

START_S = 60.0
INCIDENT_TITLES = {
    "opencode connection lost",
    "opencode server down",
    "opencode server restarting",
    "opencode server back",
}


@pytest.fixture
def desk(virtual_desktop: VirtualDesktop) -> VirtualDesktop:
    return virtual_desktop


def app_settings(desk: VirtualDesktop, binary: str, port: int) -> Settings:
    project = desk.home / "project"
    project.mkdir(exist_ok=True)
    return Settings(
        opencode_path=binary,
        port=port,
        working_directory=str(project),
        notification_grace_s=0.0,  # every incident is told, however short
        restart_backoff_min_s=0.5,
        restart_backoff_max_s=2.0,
    )


class Run:
    """The app under test, what its servers were, and everything it logged."""

    def __init__(self, app: AppDriver, port: int) -> None:
        self.app = app
        self.port = port
        self.servers: list[int] = []
        self.passwords: list[str] = []
        self.server_url = ""  # the server's own (behind the front door, a private port)
        self.logged = ""

    def connected(self, old: int | None = None) -> dict[str, Any]:
        """Connected to a server other than `old`; remembers it and its password."""
        status: dict[str, Any] = block_until(
            lambda: (
                (s := self.app.status())["state"] == "connected"
                and s["server"]["pid"] not in (None, old)
                and s
            ),
            "connected to a new server",
            START_S,
        )
        pid = status["server"]["pid"]
        self.servers.append(pid)
        self.server_url = status["server"]["upstream_url"]
        self.passwords.append(psutil.Process(pid).environ()["OPENCODE_SERVER_PASSWORD"])
        return status

    def sessions(self) -> Sessions:
        """The sessions of the server now, asked of it directly with its own password."""
        port = urlsplit(self.server_url).port
        assert port is not None, self.server_url
        return Sessions(port, self.credentials)

    def credentials(self) -> tuple[str, str]:
        return USERNAME, self.passwords[-1]

    def keep_log(self) -> None:
        """The app's output so far (a new start overwrites it)."""
        self.logged += self.app.log.read_text(errors="replace")

    def finish(self) -> None:
        """Quit, then: nothing left running, no password in any log."""
        assert self.app.quit() == 0
        self.keep_log()
        strays = leftovers(set(self.servers), self.port)
        assert not strays, f"left running: {strays}"
        log_dir = self.app.desk.home / ".local/state/opencode-tray/log"
        files = "".join(p.read_text(errors="replace") for p in log_dir.glob("*.log*"))
        assert "opencode-tray" in files
        assert_no_secret(self.logged + files, self.passwords)


@pytest.fixture
def run(
    desk: VirtualDesktop, tmp_path: Path, opencode_binary: str, free_port: int
) -> Iterator[Run]:
    app = AppDriver(desk, tmp_path, app_settings(desk, opencode_binary, free_port))
    started = Run(app, free_port)
    try:
        yield started
    finally:
        app.kill()
        for pid in started.servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid)


def shown(desk: VirtualDesktop, count: int) -> bool:
    return desk.notification_count() == count


def test_each_server_crash_is_told_once(run: Run, desk: VirtualDesktop) -> None:
    """Killed by SIGKILL, then by SIGTERM from outside: two incidents, two notifications that
    each end as "back". (The same text twice would be stacked by dunst into one.)"""
    run.app.start()
    status = run.connected()
    assert desk.notification_count() == 0
    before: Snapshot = asyncio.run(run.sessions().create())
    for n, sig in enumerate((signal.SIGKILL, signal.SIGTERM), start=1):
        os.kill(status["server"]["pid"], sig)
        status = run.connected(old=status["server"]["pid"])
        incident = status["incidents"][-1]
        assert incident["cause"]["text"].startswith(f"server killed by {sig.name}")
        assert incident["recovered"]
        # One notification per incident: replaced as it goes on, it ends as "back" (checked
        # below, once all are closed into the history).
        block_until(partial(shown, desk, n), f"{n} notifications", START_S)
    # A notice held back for its minimum time on screen ("back", right after "restarting")
    # comes MIN_SHOWN_S later; a busy machine fires that timer late. Then nothing more comes.
    time.sleep(MIN_SHOWN_S + 4.0)
    assert desk.notification_count() == 2
    desk.dunstctl("close-all")
    history = desk.history()
    assert [item["summary"] for item in history[:2]] == [RECOVERED_TITLE] * 2
    assert {item["summary"] for item in history} <= INCIDENT_TITLES
    for item, sig in zip(history[:2], (signal.SIGTERM, signal.SIGKILL), strict=True):
        assert sig.name in item["body"]
    asyncio.run(run.sessions().assert_kept(before))
    run.finish()


BROKEN_SETTINGS = b"""
[timeouts
heartbeat_timeout_s = "soon"
\x00\xff = = garbage
"""


def test_the_app_killed_and_started_again_without_keyring_and_with_broken_settings(
    run: Run, desk: VirtualDesktop
) -> None:
    run.app.env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    config = desk.home / ".config/opencode-tray/settings.toml"
    config.write_bytes(config.read_bytes() + BROKEN_SETTINGS)
    run.app.start()
    status = run.connected()
    before: Snapshot = asyncio.run(run.sessions().create())
    for _ in range(2):
        assert run.app.proc is not None
        killed = run.app.proc.pid
        run.app.kill()
        old = status["server"]["pid"]
        block_until(partial(gone, old), "the server to die with the app", 10)
        run.keep_log()
        run.app.start()
        status = run.connected(old=old)
        assert status["app"]["pid"] != killed
        assert status["incidents"] == []  # a new app, a new start: no incident to tell
        asyncio.run(run.sessions().assert_kept(before))
    assert len(set(run.passwords)) == 3, "without a keyring each run has its own password"
    assert desk.notification_count() == 0
    assert len(list(config.parent.glob("settings.toml.broken-*"))) == 1
    run.finish()
    assert run.logged.count("tray.engine.server_password: No keyring available") == 3


def test_a_server_left_on_the_public_port_is_stopped_before_the_front_door_takes_it(
    run: Run, desk: VirtualDesktop, opencode_binary: str
) -> None:
    """A run without the front door whose server outlived it (macOS sends no signal when a
    parent dies) left that server on the public port: the next run stops it first, so the door
    gets the port and the new server runs behind it."""
    leftover = subprocess.Popen(
        [opencode_binary, "serve", "--hostname", "127.0.0.1", "--port", str(run.port)],
        cwd=desk.home / "project",
        env=run.app.env | {"OPENCODE_SERVER_PASSWORD": "the-earlier-run-s"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert leftover.stdout is not None
        assert b"listening on" in leftover.stdout.readline()
        RecordFile(desk.home / ".local/state/opencode-tray/server.json").write(leftover.pid)
        run.app.start()
        status = run.connected()
        assert leftover.wait(10) == -signal.SIGTERM
        assert status["front_door"]["enabled"]
        assert urlsplit(status["front_door"]["url"]).port == run.port
        assert urlsplit(status["server"]["upstream_url"]).port != run.port
        asyncio.run(run.sessions().create())
        run.keep_log()
        assert "left by an earlier run" in run.logged
        assert "could not listen" not in run.logged
        run.finish()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(leftover.pid, signal.SIGKILL)
        leftover.wait(10)
