"""The whole app, as a person uses it: a real tray (SNI), dunst, gnome-keyring and the real
opencode server under Xvfb. Screenshots land in the test's folder; README's come from here."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.desktop import VirtualDesktop, keep_for_readme
from tests.e2e.app_driver import AppDriver, project_settings
from tests.support.processes import alive
from tests.support.waiting import block_until
from tray.core.door.auth import LOGIN_PATH

pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.timeout(240)]


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[VirtualDesktop]:
    with VirtualDesktop(tmp_path / "desk", keyring=True) as desktop:
        yield desktop


@pytest.fixture
def app(
    desk: VirtualDesktop, tmp_path: Path, opencode_binary: str, free_port: int
) -> Iterator[AppDriver]:
    settings = project_settings(desk, opencode_binary, free_port, notification_grace_s=0.0)
    driver = AppDriver(desk, tmp_path, settings)
    driver.start()
    try:
        yield driver
    finally:
        driver.kill()
        print((tmp_path / "app.log").read_text(errors="replace")[-4000:])


def _shot(desk: VirtualDesktop, tmp_path: Path, name: str) -> Path:
    return keep_for_readme(desk.screenshot(tmp_path / name))


def test_the_app_as_a_person_uses_it(
    app: AppDriver, desk: VirtualDesktop, tmp_path: Path, free_port: int
) -> None:
    started = time.monotonic()
    status = app.wait_state("connected", timeout=60)
    connected_after = time.monotonic() - started
    assert status["server"]["version"] == "1.18.33"
    assert status["server"]["url"] == f"http://127.0.0.1:{free_port}"

    # The password went to the real keyring (gnome-keyring over Secret Service).
    code, _ = app.cli("status")
    assert code == 0
    # The icon is in the panel, and its menu is the app's.
    block_until(desk.tray_host_registered, "the tray host", 30.0)
    labels = block_until(app.menu_labels, "the tray menu", 30.0)
    for label in ("Restart server", "Stop server", "Copy server URL", "Settings…", "Quit"):
        assert label in labels, labels
    status_line = next(label for label in labels if label.startswith("Connected"))
    assert status_line == "Connected"
    desk.run("xdotool", "mousemove", "1008", "16", "click", "3")
    time.sleep(0.6)
    _shot(desk, tmp_path, "tray-menu.png")
    desk.run("xdotool", "key", "Escape")

    # The server dies: one notification with the cause, then the app restarts it.
    killed_at = time.monotonic()
    os.kill(status["server"]["pid"], signal.SIGKILL)
    block_until(lambda: desk.notification_count() >= 1, "a notification", 20)
    noticed_after = time.monotonic() - killed_at
    _shot(desk, tmp_path, "notification.png")
    reconnected = app.wait_state("connected", timeout=60)
    recovered_after = time.monotonic() - killed_at
    incident = reconnected["incidents"][-1]
    assert incident["cause"]["kind"] == "killed_by_signal"
    assert "SIGKILL" in incident["cause"]["text"]
    assert incident["recovered"]
    assert reconnected["server"]["restarts"] == 1

    # A click on the notification takes the user back: no session yet, so to the session list.
    desk.click_notification()
    opened = block_until(
        lambda: app.opened.exists() and app.opened.read_text().split(), "the browser", 30.0
    )
    # Through the front door: a one-time sign-in URL, never the password itself.
    assert opened[-1].startswith(f"http://127.0.0.1:{free_port}{LOGIN_PATH}/")
    assert "auth_token=" not in opened[-1]
    shown = [item["body"] for item in desk.history()] + [desk.dunstctl("history")]
    assert any("SIGKILL" in text for text in shown), shown

    # Settings… from the menu opens the dialog.
    app.click_menu("Settings…")
    block_until(
        lambda: any("Settings" in title for title in app.window_titles()),
        "the settings dialog",
        30.0,
    )
    time.sleep(0.3)
    desk.screenshot(tmp_path / "settings-in-the-app.png")  # README's: settings_screenshot.py

    # Quit leaves nothing behind.
    servers = app.servers()
    assert servers, "no server found to leave behind"
    assert app.quit() == 0
    assert alive(servers) == []
    code, out = app.cli("status", "--json")
    assert (code, json.loads(out)["state"]) == (3, "not_running")
    print(
        f"\nstart->connected {connected_after:.1f} s, kill->notification {noticed_after:.1f} s, "
        f"kill->reconnected {recovered_after:.1f} s"
    )
