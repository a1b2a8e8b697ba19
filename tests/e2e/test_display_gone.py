"""The display going away under the running app (the X server dies, or a session ends without
telling the app first): Qt ends its event loop by itself, and nothing runs on it any more.

The app quit with a traceback ("Event loop stopped before Future completed") and tried to show
it in a message box on the display that was gone. Now it says what happened in its log and
quits; its server goes with it (PR_SET_PDEATHSIG), so none is left behind."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from tests.desktop import VirtualDesktop
from tests.e2e.app_driver import AppDriver, project_settings
from tests.support.processes import alive
from tests.support.waiting import block_until

pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.timeout(240)]


def test_the_display_going_away_quits_the_app_and_its_server(
    tmp_path: Path, opencode_binary: str, free_port: int
) -> None:
    with VirtualDesktop(tmp_path / "desk", keyring=True) as desk:
        settings = project_settings(desk, opencode_binary, free_port)
        app = AppDriver(desk, tmp_path, settings)
        app.start()
        try:
            status = app.wait_state("connected", timeout=60)
            server = psutil.Process(status["server"]["pid"])
            desk.end_display()
            assert app.proc is not None
            code = app.proc.wait(30)
            block_until(lambda: not alive([server]), "the server to be gone", 10)
        finally:
            app.kill()
            logged = app.log.read_text(errors="replace")
            print(logged[-4000:])
    assert code == 1
    assert "the display went away (Qt's event loop ended): quitting" in logged
    assert "Traceback" not in logged
    assert "told the user" not in logged
