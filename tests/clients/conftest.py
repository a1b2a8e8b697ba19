"""Fixtures for the real-client tests: a real server started directly by the engine (today's
behaviour, no front door), the clients' isolated environment, and a REST helper."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.target import Target
from tests.engine.conftest import make_launch  # noqa: F401 (a fixture used here)
from tests.engine.helpers import Harness, LaunchFactory, running
from tray.engine.launch import ServerLaunch


@dataclass
class Direct:
    """A real server on a test port, owned by an engine, that clients reach directly."""

    harness: Harness
    launch: ServerLaunch
    target: Target
    workdir: Path


@pytest.fixture(autouse=True)
def door_log(caplog: pytest.LogCaptureFixture) -> None:
    """The door's own account (subscriptions, loads) goes with a failure's report."""
    caplog.set_level(logging.DEBUG, logger="tray.frontdoor")


@pytest.fixture
async def direct(make_launch: LaunchFactory) -> AsyncIterator[Direct]:  # noqa: F811
    launch = make_launch()
    async with running(launch) as harness:
        status = await harness.connected()
        assert status.url is not None
        username, password = launch.credentials()
        target = Target(status.url, username, password)
        await boot_directory(target, launch.cwd())
        yield Direct(harness, launch, target, launch.cwd())


async def boot_directory(target: Target, directory: Path) -> None:
    """Make the server load `directory`'s project now. A session created by the request that
    loads it is sometimes missing from `/global/event` (seen under load): tests that count
    events load the project first (FINDINGS.md)."""
    async with rest(target) as http:
        response = await http.get("/session", params={"directory": str(directory)})
        response.raise_for_status()


def rest(target: Target, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client with the target's credentials (a person's other tool, not a client under
    test)."""
    return httpx.AsyncClient(
        base_url=target.url, auth=(target.username, target.password), timeout=30.0, **kwargs
    )


async def create_session(target: Target, title: str, directory: Path) -> str:
    """POST /session in `directory`; the new session's id."""
    async with rest(target) as http:
        response = await http.post(
            "/session", params={"directory": str(directory)}, json={"title": title}
        )
        response.raise_for_status()
        session_id: str = response.json()["id"]
        return session_id
