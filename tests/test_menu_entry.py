"""`install-menu-entry` and `uninstall-menu-entry`: the launcher entry and its icons in a temporary
XDG_DATA_HOME, checked with desktop-file-validate, run as a user types them."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tray.platform import menu_entry
from tray.platform.autostart import launch_command
from tray.platform.identity import APP_ID, APP_NAME

pytestmark = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"), reason="menu entries are for freedesktop.org desktops"
)

REPO = Path(__file__).resolve().parents[1]
AWKWARD = ["/opt/my apps/it's here/opencode-tray"]


def _keys(entry: Path) -> dict[str, str]:
    lines = entry.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_data_home_follows_the_xdg_rule(tmp_path: Path) -> None:
    assert menu_entry.data_home({"XDG_DATA_HOME": "/x/data"}, tmp_path) == Path("/x/data")
    for env in ({}, {"XDG_DATA_HOME": ""}, {"XDG_DATA_HOME": "relative"}):
        assert menu_entry.data_home(env, tmp_path) == tmp_path / ".local" / "share"


def test_the_entry_validates_and_starts_the_command(tmp_path: Path) -> None:
    written = menu_entry.write(tmp_path, AWKWARD)
    entry = tmp_path / "applications" / f"{APP_ID}.desktop"
    assert written[0] == entry
    result = subprocess.run(
        ["desktop-file-validate", str(entry)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    keys = _keys(entry)
    assert shlex.split(keys["Exec"]) == AWKWARD
    assert keys["Icon"] == APP_NAME
    assert keys["Name"] == _keys(REPO / "resources" / f"{APP_NAME}.desktop")["Name"]


def test_the_icon_goes_into_the_users_hicolor_theme_at_every_size(tmp_path: Path) -> None:
    menu_entry.write(tmp_path, AWKWARD)
    theme = tmp_path / "icons" / "hicolor"
    sizes = sorted(p.parent.parent.name for p in theme.glob(f"*/apps/{APP_NAME}.png"))
    shipped = REPO / "resources" / "icons" / "hicolor"
    assert sizes == sorted(p.parent.parent.name for p in shipped.glob(f"*/apps/{APP_NAME}.png"))
    assert len(sizes) >= 5
    svg = theme / "scalable" / "apps" / f"{APP_NAME}.svg"
    assert svg.read_bytes() == (REPO / "resources" / "icons" / f"{APP_NAME}.svg").read_bytes()


def test_remove_takes_away_what_write_wrote_and_nothing_else(tmp_path: Path) -> None:
    other = tmp_path / "applications" / "other.desktop"
    other.parent.mkdir(parents=True)
    other.write_text("[Desktop Entry]\n")
    written = menu_entry.write(tmp_path, AWKWARD)
    assert sorted(menu_entry.remove(tmp_path)) == sorted(written)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [other]
    assert menu_entry.remove(tmp_path) == []


def _cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"XDG_DATA_HOME": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "tray", *args], env=env, capture_output=True, text=True, check=False
    )


def test_the_commands_as_a_user_types_them(tmp_path: Path) -> None:
    added = _cli("install-menu-entry", data=tmp_path)
    assert added.returncode == 0, added.stderr
    entry = tmp_path / "applications" / f"{APP_ID}.desktop"
    assert f"application menu: {entry}" in added.stdout
    assert shlex.split(_keys(entry)["Exec"]) == launch_command()
    again = _cli("install-menu-entry", data=tmp_path)  # idempotent: the same files
    assert again.stdout == added.stdout
    removed = _cli("uninstall-menu-entry", data=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith(f"Removed {len(added.stdout.splitlines()) - 1} files")
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    gone = _cli("uninstall-menu-entry", data=tmp_path)
    assert (gone.returncode, gone.stdout.strip()) == (0, "No menu entry to remove")
