"""Shared fixtures: a qasync loop for every async test (as in the app), offscreen Qt, and an
isolated environment for the real opencode server."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QApplication

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
PINNED_BINARY = REPO / ".opencode" / "node_modules" / ".bin" / "opencode"


def _qapp() -> QApplication:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    return app


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], qasync.QEventLoop]]:
    """Async tests run on qasync, as the app does (tests/TESTING.md section 5)."""
    return {"qasync": lambda: qasync.QEventLoop(_qapp())}


@pytest.fixture(scope="session")
def opencode_binary() -> str:
    """The pinned opencode binary that `./dev test` installs."""
    path = os.environ.get("OPENCODE_TRAY_TEST_BINARY") or str(PINNED_BINARY)
    if not Path(path).exists():
        pytest.fail(f"no opencode binary at {path}: run the tests through ./dev test")
    return path


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    """An environment where the server touches only tmp_path and never reaches the network."""
    home = tmp_path / "home"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENCODE_", "XDG_")) or k == "OPENCODE_TRAY_TEST_BINARY"
    }
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local/state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        npm_config_offline="true",
        OPENCODE_DISABLE_AUTOUPDATE="1",
        OPENCODE_DISABLE_MODELS_FETCH="1",
    )
    home.mkdir()
    return env


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
