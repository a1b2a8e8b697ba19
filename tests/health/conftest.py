"""Fixtures for the health tests: the engine tests' launches, the mock model, a REST client for
the server an engine runs, and fast health ticks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import mock_model
from tests.engine.conftest import make_launch
from tray.core.status import Status
from tray.engine.launch import ServerLaunch

__all__ = ["make_launch"]

# Health ticks, probes and the stuck limit shortened so that each fits a test.
FAST_HEALTH: dict[str, Any] = {
    "health_interval_s": 0.3,
    # The real server answers nothing while it boots a project for its first prompt: seconds,
    # and more on a loaded machine. The wedged tests (a fake server) shorten it.
    "request_hang_s": 60.0,
    "stuck_after_s": 3.0,
}
# What a wait for the server may take on a loaded 2-core machine (load 30+ was seen), and a test.
WAIT_S = 120.0
SLOW_TEST_S = 900


@dataclass
class Model:
    """The mock model (tests/e2e/mock_model.py) in its own process; `mode` sets its pace."""

    port: int
    workdir: Path

    def mode(self, mode: str) -> None:
        (self.workdir / "mode").write_text(mode)

    def requests(self) -> list[str]:
        path = self.workdir / "requests"
        return path.read_text().split() if path.exists() else []

    def env(self) -> dict[str, str]:
        return {"OPENCODE_CONFIG_CONTENT": mock_model.config_content(self.port)}


@pytest.fixture(autouse=True)
def engine_log(caplog: pytest.LogCaptureFixture) -> None:
    """The engine's account at INFO (when it saw the binary's version, each resync) goes with
    a failure's report: a CI run once restarted onto a changed binary only 120 s late."""
    caplog.set_level(logging.INFO, logger="tray.engine")


@pytest.fixture
def model(tmp_path: Path) -> Iterator[Model]:
    workdir = tmp_path / "model"
    workdir.mkdir()
    proc, port = mock_model.spawn(workdir)
    try:
        yield Model(port, workdir)
    finally:
        proc.terminate()
        proc.wait(10)


def rest(launch: ServerLaunch, status: Status) -> httpx.AsyncClient:
    """A client for the server behind `status`, as another client of it would be."""
    assert status.url is not None
    return httpx.AsyncClient(
        base_url=status.url, auth=("opencode", launch.password.value), timeout=10
    )


async def new_turn(client: httpx.AsyncClient) -> str:
    """A new session and a prompt sent to it; the turn runs at the mock model's pace."""
    session: str = (await client.post("/session", json={"title": "health"})).json()["id"]
    prompt = {"parts": [{"type": "text", "text": "Fix the parser, please."}]}
    sent = await client.post(f"/session/{session}/prompt_async", json=prompt)
    assert sent.status_code == 204, sent.text
    return session


async def busy_on_server(client: httpx.AsyncClient) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get("/session/status")).json()
    return found
