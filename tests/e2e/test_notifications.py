"""Notifications counted as a person sees them (tests/TESTING.md section 2): the real app with the
default grace period, the real server killed and its replacement killed while starting, dunst's
history read with `dunstctl history` (equal texts not merged, see tests.desktop).

One incident is one notification: replaced in place (one dunst id) while it goes on, and by the
recovery notice when it is over (README, "Notifications and session resume")."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.desktop import VirtualDesktop
from tests.e2e.app_driver import AppDriver, project_settings
from tests.support.waiting import block_until
from tray.core.notify_policy import RECOVERED_TITLE
from tray.core.settings import Settings
from tray.platform.identity import DISPLAY_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.timeout(300)]

GRACE_S = Settings().notification_grace_s
# `opencode-tray status` is a new Python process each time: on a loaded 2-core machine it can
# take longer to start than the driver's default allows.
STATUS_TIMEOUT_S = 60.0
# The app's notifications reach the daemon as these D-Bus calls; the monitor only tells the
# test when the app has sent one (the counting is dunst's).
_NOTIFY = re.compile(r"^method call time=([\d.]+) .*member=Notify$")
_ATTEMPT = re.compile(r"\(attempt (\d+)\)")


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[VirtualDesktop]:
    with VirtualDesktop(tmp_path / "desk", keyring=True) as desktop:
        yield desktop


@dataclass
class Sent:
    at: float  # seconds since the epoch, as dbus-monitor stamps the call
    replaces: int
    summary: str
    attempt: int | None  # the "(attempt N)" the body says, if any


class NotifyCalls:
    """The Notify calls on the desktop's bus, as dbus-monitor prints them."""

    def __init__(self, desk: VirtualDesktop, log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"],
                env=desk.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def sent(self) -> list[Sent]:
        calls: list[Sent] = []
        lines = self.log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            found = _NOTIFY.match(line)
            # app_name, replaces_id, app_icon, summary: the first four arguments
            if found and len(lines) > i + 4 and f'"{DISPLAY_NAME}"' in lines[i + 1]:
                replaces = int(lines[i + 2].split()[-1])
                summary = lines[i + 4].strip().removeprefix('string "').removesuffix('"')
                body = "\n".join(lines[i + 5 : i + 8])  # a body of two lines, and a margin
                attempt = _ATTEMPT.search(body.partition("array [")[0])
                at = float(found.group(1))
                calls.append(Sent(at, replaces, summary, int(attempt[1]) if attempt else None))
        return calls

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


@pytest.fixture
def calls(desk: VirtualDesktop, tmp_path: Path) -> Iterator[NotifyCalls]:
    monitor = NotifyCalls(desk, tmp_path / "dbus-monitor.log")
    try:
        yield monitor
    finally:
        monitor.close()


@pytest.fixture
def app(
    desk: VirtualDesktop, tmp_path: Path, opencode_binary: str, free_port: int
) -> Iterator[AppDriver]:
    settings = project_settings(
        desk,
        opencode_binary,
        free_port,
        crash_loop_limit=20,  # two incidents of a few crashes each must not trip the breaker
    )
    assert settings.notification_grace_s == GRACE_S == 5.0  # the default, on purpose
    driver = AppDriver(desk, tmp_path, settings)
    driver.start()
    try:
        yield driver
    finally:
        driver.kill()
        print((tmp_path / "app.log").read_text(errors="replace")[-3000:])


def status(app: AppDriver) -> dict[str, Any]:
    """`status --json`, given the time a loaded machine may take to start the command."""
    _code, out = app.cli("status", "--json", timeout=STATUS_TIMEOUT_S)
    data: dict[str, Any] = json.loads(out)
    return data


def connected(app: AppDriver) -> dict[str, Any]:
    found: dict[str, Any] = block_until(
        lambda: (s := status(app))["state"] == "connected" and s, "connected", 120
    )
    return found


def incident(app: AppDriver, last_for_s: float) -> tuple[float, int]:
    """Kill the server, then its replacement as soon as it is there (so while it starts), and
    each one after it until `last_for_s` seconds have passed; then let the next one come up.
    When it began, and how many servers were killed."""
    pid = connected(app)["server"]["pid"]
    began = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    killed = {pid}
    while True:
        fresh: list[psutil.Process] = block_until(
            lambda: [p for p in app.servers() if p.pid not in killed], "a replacement server", 60
        )
        if len(killed) >= 2 and time.monotonic() - began >= last_for_s:
            return began, len(killed)
        for server in fresh:
            with contextlib.suppress(psutil.NoSuchProcess):
                server.kill()
            killed.add(server.pid)


def test_one_incident_is_one_notification_replaced_in_place(
    app: AppDriver, desk: VirtualDesktop, calls: NotifyCalls
) -> None:
    per_incident: list[int] = []
    seen: set[str] = {item["id"] for item in desk.history()}
    crashes = 0
    for n in (1, 2):
        before = len(calls.sent())
        began, killed = incident(app, last_for_s=GRACE_S + 1.5)
        crashes += killed
        assert killed >= 2  # the server, and its replacement while starting
        back = connected(app)
        assert back["incidents"][-1]["recovered"]
        block_until(
            lambda: any(c.summary == RECOVERED_TITLE for c in calls.sent()[before:]),  # noqa: B023
            "the recovery notice",
            20,
        )
        sent = calls.sent()[before:]
        desk.dunstctl("close-all")
        block_until(lambda: desk.notification_count() == 0, "dunst to close them", 30.0)
        new = [item for item in desk.history() if item["id"] not in seen]
        seen |= {item["id"] for item in new}
        ours = [item for item in new if item["appname"] == DISPLAY_NAME]
        per_incident.append(len({item["id"] for item in ours}))
        gaps = [round(b.at - a.at, 2) for a, b in pairwise(sent)]
        attempts = [c.attempt for c in sent if c.attempt is not None]
        print(
            f"\nincident {n}: {killed} servers killed over {time.monotonic() - began:.1f} s; "
            f"{len(sent)} Notify calls ({', '.join(c.summary for c in sent)}), "
            f"seconds between them {gaps}, attempts said {attempts} (the supervisor's count "
            f"reached {crashes}); dunst history ids: {len({i['id'] for i in ours})}"
        )
        # Attempts are the incident's own, not the supervisor's count across incidents.
        assert all(1 <= a <= killed for a in attempts), attempts
        # One id per incident, its last content the recovery; every update replaced it.
        assert len(ours) == 1, ours
        assert ours[0]["summary"] == RECOVERED_TITLE
        assert all(c.replaces == 0 for c in sent[:1])
        assert len({c.replaces for c in sent[1:]}) == (1 if len(sent) > 1 else 0)
        assert all(c.replaces == int(ours[0]["id"]) for c in sent[1:])
    assert per_incident == [1, 1]
