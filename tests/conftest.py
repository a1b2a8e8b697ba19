"""Shared fixtures: a qasync loop for every async test (as in the app), offscreen Qt, and an
isolated environment for the real opencode server."""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from tray.runtime.collector import collect_due

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
PINNED_BINARY = REPO / ".opencode" / "node_modules" / ".bin" / "opencode"


def _qapp() -> QApplication:
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    return app


@pytest.fixture(scope="session", autouse=True)
def _collect_garbage_on_the_main_thread() -> Iterator[None]:
    """Python's cyclic collector runs in whichever thread allocates when it is due: under
    pytest-xdist that is often execnet's receiver thread, which then destroyed Qt objects (the
    closed per-test qasync loops' timers and notifiers) off Qt's thread, and a worker segfaulted
    in Qt's event loop (2 of 4 fresh-clone runs). Here, as in the app (`tray.runtime.collector`),
    it runs only on the main thread: between tests, the generations that are due."""
    gc.disable()
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def _collect_after_each_test() -> Iterator[None]:
    yield
    collect_due()


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
