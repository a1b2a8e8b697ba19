"""Where the app keeps its files, per platform (platformdirs)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import platformdirs

from tray.platform.identity import APP_NAME


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def settings_file() -> Path:
    return config_dir() / "settings.toml"


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def private_dir(path: Path) -> Path:
    """`path` as a folder only its user can enter (0700, tightened if it exists already).

    On Windows the folders above are in the user's profile, which is the user's alone already."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if sys.platform != "win32" and stat.S_IMODE(path.stat().st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path
