"""A start that waits for a tray (`--background`, `--wait-for-tray`: at login the panel may come
up after the app) on a desktop that has none, and no keyring either (no Secret Service on the
bus): the keyring's "none" is acted on at once, the server starts and connects at once, and only
the icon waits (up to TRAY_WAIT_S, then the status window stands in). A SIGTERM quits at once and
cleanly, waiting or not.

The app waited the whole minute before it started the front door, and so the server: the
status window and the server came up 60 s late although "No keyring available" was logged at
once; the server, asked for at the keyring's answer, counted its startup timeout from then and
was terminated 0.5 s after its start; a SIGTERM during the wait quit only when it ended."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.desktop import VirtualDesktop
from tests.e2e.app_driver import AppDriver, project_settings
from tests.support.processes import alive
from tests.support.waiting import block_until
from tray.shell.app import TRAY_WAIT_S

pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.timeout(240)]

# Well under TRAY_WAIT_S, well over a server start on a loaded 2-core machine.
CONNECTED_WITHIN_S = TRAY_WAIT_S * 2 / 3
QUIT_WITHIN_S = 20.0


@pytest.fixture
def app(tmp_path: Path, opencode_binary: str, free_port: int) -> Iterator[AppDriver]:
    # No tray, and a bus without D-Bus activation and without a Secret Service: no keyring.
    with VirtualDesktop(tmp_path / "desk", tray=False) as desk:
        assert not desk.has_owner("org.freedesktop.secrets")
        settings = project_settings(desk, opencode_binary, free_port, notification_grace_s=0.0)
        driver = AppDriver(desk, tmp_path, settings)
        try:
            yield driver
        finally:
            driver.kill()
            print(driver.log.read_text(errors="replace")[-4000:])


def sigterm(app: AppDriver) -> tuple[int, float]:
    """SIGTERM the app; its exit code and how long it took to exit."""
    assert app.proc is not None
    asked = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)
    code = app.proc.wait(QUIT_WITHIN_S * 3)
    return code, time.monotonic() - asked


def assert_quit_cleanly(app: AppDriver, code: int, took_s: float) -> str:
    logged = app.log.read_text(errors="replace")
    assert "unhandled error" not in logged
    assert "Traceback" not in logged
    assert code == 0
    assert took_s < QUIT_WITHIN_S
    quitting = logged.index("quitting: stopping the server")
    assert "tray.engine.process: starting" not in logged[quitting:], "a server started after quit"
    return logged


def test_no_keyring_and_no_tray_yet_the_server_starts_at_once(app: AppDriver) -> None:
    started = time.monotonic()
    app.start("--background")
    status = app.wait_state("connected", timeout=CONNECTED_WITHIN_S)
    connected_after = time.monotonic() - started
    servers = app.servers()
    assert status["server"]["restarts"] == 0
    assert status["incidents"] == []
    logged = app.log.read_text(errors="replace")
    assert "told the user: No keyring available (" in logged
    assert "did not answer within" not in logged  # the keyring's "none" was not waited out
    assert "no system tray available" not in logged  # the icon still waits for a tray
    assert len(re.findall(r"tray\.engine\.process: starting ", logged)) == 1
    code, took = sigterm(app)
    assert alive(servers) == []
    assert_quit_cleanly(app, code, took)
    print(f"connected after {connected_after:.1f} s; quit {took:.2f} s after SIGTERM")


def test_sigterm_while_waiting_for_a_tray_quits_at_once(app: AppDriver) -> None:
    app.start("--wait-for-tray")
    block_until(lambda: app.cli("status", "--json")[0] != 3, "the app to answer", 60)
    servers = block_until(app.servers, "the server's process", CONNECTED_WITHIN_S)
    code, took = sigterm(app)
    assert alive(servers) == []
    logged = assert_quit_cleanly(app, code, took)
    assert "no system tray available" not in logged
    print(f"quit {took:.2f} s after SIGTERM")
