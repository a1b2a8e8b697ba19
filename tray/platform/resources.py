"""Where the app's bundled files (icons, launcher entry) are, from a checkout or a frozen build."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tray.platform.identity import APP_NAME

_SOURCE_ROOT = Path(__file__).resolve().parents[2] / "resources"
# PyInstaller's PySide6 hook points these at the bundle; packaging/pyi_rth_user_env.py keeps the
# user's values under NAME_ORIG.
_BUNDLE_QT_PATHS = ("QT_PLUGIN_PATH", "QML2_IMPORT_PATH")


def resources_root() -> Path:
    """`resources/` next to the `tray` package, or inside a PyInstaller bundle when frozen."""
    bundle: str | None = getattr(sys, "_MEIPASS", None)
    return Path(bundle) / "resources" if bundle is not None else _SOURCE_ROOT


def resource_path(*parts: str) -> Path:
    return resources_root().joinpath(*parts)


def icon_path(state_value: str) -> Path:
    """The tray icon for a `tray.core.status.State` value, such as "connected"."""
    return resource_path("icons", f"{state_value}.svg")


def app_icon_path() -> Path:
    return resource_path("icons", f"{APP_NAME}.svg")


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
