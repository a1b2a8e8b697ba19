"""Session resume with a real prompt: the real app and server on a virtual desktop, a local
mock model, the server killed in the middle of a turn."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.desktop import VirtualDesktop, keep_for_readme
from tests.e2e import mock_model
from tests.e2e.app_driver import AppDriver, project_settings
from tests.support.waiting import block_until
from tray.core.settings import ResumeTarget

pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.timeout(240)]

# Stands in for a terminal: writes down the command it was asked to run, and whether the
# password came in the environment (it must not come in argv).
TERMINAL = """#!{python}
import json, os, sys
call = {{"argv": sys.argv[1:], "env_password": os.environ.get("OPENCODE_SERVER_PASSWORD")}}
with open({out!r}, "a") as log:
    log.write(json.dumps(call) + "\\n")
"""


class Lab:
    """The app, the mock model and a REST client for the server the app runs."""

    def __init__(self, app: AppDriver, workdir: Path) -> None:
        self.app = app
        self.workdir = workdir
        self.terminal_log = workdir / "terminal.jsonl"
        self._client: httpx.Client | None = None
        self.password = ""

    def mode(self, mode: str) -> None:
        (self.workdir / "mode").write_text(mode)

    def requests(self) -> list[str]:
        path = self.workdir / "requests"
        return path.read_text().split() if path.exists() else []

    def client(self) -> httpx.Client:
        if self._client is None:
            self.password = self.app.desk.run(
                sys.executable,
                "-c",
                "import keyring; print(keyring.get_password('opencode-tray', 'server-password'))",
            ).strip()
            url = self.app.status()["server"]["url"]
            self._client = httpx.Client(base_url=url, auth=("opencode", self.password), timeout=10)
        return self._client

    def new_turn(self, title: str) -> str:
        session: str = self.client().post("/session", json={"title": title}).json()["id"]
        prompt = {"parts": [{"type": "text", "text": "Fix the parser, please."}]}
        sent = self.client().post(f"/session/{session}/prompt_async", json=prompt)
        assert sent.status_code == 204, sent.text
        return session

    def messages(self, session: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.client().get(f"/session/{session}/message").json()
        return found

    def busy(self) -> dict[str, Any]:
        found: dict[str, Any] = self.client().get("/session/status").json()
        return found

    def finished(self, session: str) -> bool:
        last = [m for m in self.messages(session) if m["info"]["role"] == "assistant"]
        return (
            bool(last)
            and bool(last[-1]["info"]["time"].get("completed"))
            and (session not in self.busy())
        )

    def sessions(self) -> list[tuple[str, str]]:
        return [(s["id"], s["title"]) for s in self.client().get("/session").json()]

    def terminal_calls(self) -> list[dict[str, Any]]:
        if not self.terminal_log.exists():
            return []
        # The stand-in terminal is a process of its own, which may still be writing its line.
        lines = self.terminal_log.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines]


@pytest.fixture
def lab(tmp_path: Path, opencode_binary: str, free_port: int) -> Iterator[Lab]:
    model, model_port = mock_model.spawn(tmp_path)
    terminal = tmp_path / "terminal"
    terminal.write_text(
        TERMINAL.format(python=sys.executable, out=str(tmp_path / "terminal.jsonl"))
    )
    terminal.chmod(0o755)
    try:
        with VirtualDesktop(tmp_path / "desk", keyring=True) as desk:
            settings = project_settings(
                desk,
                opencode_binary,
                free_port,
                extra_env={"OPENCODE_CONFIG_CONTENT": mock_model.config_content(model_port)},
                notification_grace_s=0.0,
                resume_target=ResumeTarget.TERMINAL,
                terminal_command=f"{terminal} {{command}}",
            )
            app = AppDriver(desk, tmp_path, settings)
            app.start()
            try:
                yield Lab(app, tmp_path)
            finally:
                app.kill()
                print(app.log.read_text(errors="replace")[-3000:])
    finally:
        model.send_signal(signal.SIGTERM)
        model.wait(10)


def test_an_interrupted_turn_is_resumed_and_continued(lab: Lab) -> None:
    app = lab.app
    app.wait_state("connected", timeout=60)
    lab.mode("slow")
    session = lab.new_turn("Fix the parser")
    block_until(lambda: session in lab.busy() and "slow" in lab.requests(), "a busy session", 30.0)
    block_until(
        lambda: any(
            p["type"] == "text"
            for m in lab.messages(session)
            for p in m["parts"]
            if m["info"]["role"] == "assistant"
        ),
        "the reply to start streaming",
        30.0,
    )
    sessions_before = lab.sessions()
    messages_before = [m["info"]["id"] for m in lab.messages(session)]

    os.kill(app.status()["server"]["pid"], signal.SIGKILL)
    status = app.wait_state("connected", timeout=60)
    assert status["server"]["restarts"] == 1
    block_until(
        lambda: f"active session {session} interrupted" in app.log.read_text(), "the resync", 30.0
    )
    assert status["sessions"]["last_active"] == session
    # The session's notice replaces the recovery notice once that has been shown its minimum
    # time (notice_pacing.MIN_SHOWN_S): click it, not the recovery notice before it.
    block_until(
        lambda: "was interrupted mid-turn" in app.log.read_text(), "the session notice", 30.0
    )
    assert app.desk.notification_count() >= 1
    time.sleep(0.3)
    keep_for_readme(app.desk.screenshot(lab.workdir / "session-interrupted.png"))

    # One click on the notification: the terminal opens on that very session.
    app.desk.click_notification()
    call = block_until(lab.terminal_calls, "the terminal", 30.0)[-1]
    assert call["argv"][1:] == [
        "attach", status["server"]["url"], "--session", session, "--dir",
        str(app.desk.home / "project"),
    ]  # fmt: skip
    assert call["env_password"] == lab.password
    assert lab.password not in " ".join(call["argv"])
    bodies = [str(item.get("body")) for item in app.desk.history()]
    assert any("was interrupted mid-turn" in body for body in bodies), bodies

    # The app asks whether to continue; nothing was sent to the session by itself.
    assert lab.requests().count("fast") == 0
    lab.mode("fast")
    block_until(
        lambda: any("opencode tray" in t for t in app.window_titles()),
        "the Continue question",
        30.0,
    )
    keep_for_readme(app.desk.screenshot(lab.workdir / "continue-turn.png"))
    app.desk.run("xdotool", "mousemove", "512", "384", "key", "Return")
    block_until(lambda: lab.finished(session), "the continued turn to complete", 60)
    assert "fast" in lab.requests()

    # Nothing lost: the same sessions, and the old messages all still there, in order.
    assert set(sessions_before) <= set(lab.sessions())
    messages_after = [m["info"]["id"] for m in lab.messages(session)]
    assert messages_after[: len(messages_before)] == messages_before
    assert len(messages_after) > len(messages_before)
    assert app.quit() == 0


def test_an_idle_session_survives_a_restart_and_a_deleted_one_is_said(lab: Lab) -> None:
    app = lab.app
    app.wait_state("connected", timeout=60)
    lab.mode("fast")
    session = lab.new_turn("Write the docs")
    block_until(lambda: lab.finished(session), "the turn to complete", 60)
    pid = app.status()["server"]["pid"]

    assert app.cli("restart")[0] == 0
    block_until(
        lambda: (s := app.status())["state"] == "connected" and s["server"]["pid"] != pid,
        "the restarted server",
        30.0,
    )
    code, out = app.cli("resume", session)
    assert (code, out.strip()) == (0, f"Resumed {session} (idle) in the terminal.")
    # The app answers once the terminal is started, not once it has run.
    assert block_until(lab.terminal_calls, "the terminal", 30.0)[-1]["argv"][4] == session

    assert lab.client().delete(f"/session/{session}").status_code == 200
    code, out = app.cli("resume", session)
    assert code == 1
    assert f"Session {session} no longer exists (it was deleted)" in out
    assert app.quit() == 0
