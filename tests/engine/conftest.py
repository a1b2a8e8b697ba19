"""Fixtures for the engine tests: a launch factory for the real server on a test port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine.helpers import FAST, LaunchFactory
from tests.support.credentials import fresh_password
from tray.core.settings import Settings
from tray.engine.launch import ServerLaunch


@pytest.fixture
def make_launch(
    opencode_binary: str, free_port: int, server_env: dict[str, str], tmp_path: Path
) -> LaunchFactory:
    """Launches of the pinned server on this test's port, in this test's directories."""
    work = tmp_path / "work"
    work.mkdir()

    def make(**settings: Any) -> ServerLaunch:
        chosen: dict[str, Any] = {
            "opencode_path": opencode_binary,
            "port": free_port,
            "working_directory": str(work),
            **FAST,
            **settings,
        }
        return ServerLaunch(
            settings=Settings(**chosen),
            password=fresh_password(),
            state_dir=tmp_path / "state",
            base_env=server_env,
        )

    return make
