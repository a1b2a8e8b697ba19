"""Each picture README shows is one the e2e run makes (`tests.desktop.keep_for_readme`, by name)
or one a screenshot script makes; none is left over from an older app."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Pictures made by a script rather than by the e2e run: the script that makes each.
SCRIPTS = {
    "settings-dialog.png": "packaging/settings_screenshot.py",
    "settings-dialog-advanced.png": "packaging/settings_screenshot.py",
    "connect-window.png": "tests/ui/connect_window_screenshot.py",
    "icons.png": "packaging/icon_sheet.py",
}
# Made by hand once; no test or script makes it yet.
BY_HAND = {"status-window-health.png"}
PNG = re.compile(r'"([\w-]+\.png)"')


def _shown() -> set[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"resources/screenshots/([\w-]+\.png)", readme))


def _made_by_the_e2e_run() -> set[str]:
    """The .png names in the test files that keep pictures for README."""
    names: set[str] = set()
    for path in (REPO / "tests").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "keep_for_readme(" in text and path.name != "desktop.py":
            names.update(PNG.findall(text))
    return names


def test_readme_shows_only_pictures_the_e2e_run_or_a_script_makes() -> None:
    made = _made_by_the_e2e_run()
    assert {"tray-menu.png", "notification.png"} <= made
    unmade = _shown() - made - SCRIPTS.keys() - BY_HAND
    assert not unmade, f"README shows pictures nothing makes: {sorted(unmade)}"


def test_each_script_made_picture_is_named_by_its_script() -> None:
    for name, script in SCRIPTS.items():
        text = (REPO / script).read_text(encoding="utf-8")
        assert name in text, f"{script} does not make {name}"


def test_every_picture_readme_shows_is_in_the_repo() -> None:
    for name in _shown():
        assert (REPO / "resources" / "screenshots" / name).is_file(), name
