"""The log folder and the settings file are the user's only (0700 folders, a 0600 file)."""

from __future__ import annotations

import logging
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tray.core.settings import Settings
from tray.platform.paths import private_dir
from tray.runtime import logs
from tray.settings import file as settings_file

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """`logs.setup` adds handlers to the root logger: take them away again."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    yield
    for handler in root.handlers[len(before) :]:
        handler.close()
    root.handlers[:] = before
    root.setLevel(level)


@pytest.mark.usefixtures("root_handlers")
@pytest.mark.parametrize("exists", [False, True], ids=["new", "existing-0755"])
def test_the_log_folder_is_the_users_only(tmp_path: Path, exists: bool) -> None:
    folder = tmp_path / "state" / "opencode-tray" / "log"
    if exists:
        folder.mkdir(parents=True, mode=0o755)
        folder.chmod(0o755)
    path = logs.setup(folder)
    logging.getLogger("tray.test").info("hello")
    assert path.parent == folder
    assert mode(folder) == 0o700
    assert "hello" in path.read_text()


def test_private_dir_makes_parents_and_tightens(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    assert private_dir(folder) == folder
    assert mode(folder) == 0o700
    folder.chmod(0o777)
    private_dir(folder)
    assert mode(folder) == 0o700


def test_the_settings_file_is_the_users_only(tmp_path: Path) -> None:
    path = tmp_path / "config" / "opencode-tray" / "settings.toml"
    settings_file.save(path, Settings())
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    path.chmod(0o644)  # written by an older version
    settings_file.save(path, Settings(port=4100))
    assert mode(path) == 0o600


def test_a_broken_settings_files_copy_is_the_users_only(tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.toml"
    settings_file.save(path, Settings())
    path.write_text("[server\nport = 1\n")
    loaded = settings_file.load(path)
    assert loaded.backup is not None
    assert loaded.backup.parent == path.parent
    assert mode(path.parent) == 0o700
    assert mode(loaded.backup) == 0o600
