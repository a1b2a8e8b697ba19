"""Where the app's bundled files (icons, launcher entry) are: installed from a wheel, in a
checkout, or in a frozen build."""

from __future__ import annotations

import logging
import os
import sys
from functools import cache
from importlib.resources import files
from pathlib import Path

from tray.platform.identity import APP_NAME

log = logging.getLogger(__name__)

# The wheel carries the repo's top-level resources/ as this package (setup.py).
_INSTALLED = "_resources"
# PyInstaller's PySide6 hook points these at the bundle; packaging/pyi_rth_user_env.py keeps the
# user's values under NAME_ORIG.
_BUNDLE_QT_PATHS = ("QT_PLUGIN_PATH", "QML2_IMPORT_PATH")


def resources_root() -> Path:
    """Inside a PyInstaller bundle when frozen; else the `tray._resources` package the wheel
    installs, or `resources/` next to the `tray` package in a checkout."""
    bundle: str | None = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        return Path(bundle) / "resources"
    package = Path(str(files("tray")))
    installed = package / _INSTALLED
    return installed if installed.is_dir() else package.parent / "resources"


def resource_path(*parts: str) -> Path:
    return resources_root().joinpath(*parts)


def loaded_resource(*parts: str) -> Path:
    """`resource_path` for a file the app loads: a missing one is logged once, by name (Qt
    would only say it cannot open the file, or draw nothing)."""
    path = resource_path(*parts)
    if not path.is_file():
        _warn_missing(path)
    return path


@cache
def _warn_missing(path: Path) -> None:
    log.warning("Missing resource %s: this install of %s is incomplete", path, APP_NAME)


def icon_path(state_value: str) -> Path:
    """The tray icon for a `tray.core.status.State` value, such as "connected"."""
    return loaded_resource("icons", f"{state_value}.svg")


def app_icon_path() -> Path:
    return loaded_resource("icons", f"{APP_NAME}.svg")


def restore_user_environment() -> None:
    """When frozen, give the programs the app starts the user's Qt paths, not the bundle's.
    Call it once the QApplication exists: Qt has read them by then."""
    if getattr(sys, "_MEIPASS", None) is None:
        return
    for name in _BUNDLE_QT_PATHS:
        original = os.environ.pop(f"{name}_ORIG", None)
        if original is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = original
