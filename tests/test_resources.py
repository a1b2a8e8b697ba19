"""Bundled resources: a tray icon per state that Qt draws at 16 px, told apart without colour."""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from tray.core.status import State
from tray.platform import resources
from tray.platform.identity import APP_NAME

REPO = Path(__file__).resolve().parents[1]
PANELS = (QColor("#eeeeee"), QColor("#1f1f1f"))
THEME_SIZES = (16, 32, 48, 64, 128, 256, 512)


def _on_panel(icon: QIcon, size: int, panel: QColor) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(panel)
    painter = QPainter(image)
    icon.paint(painter, 0, 0, size, size)
    painter.end()
    return image


def _luminance(image: QImage) -> list[float]:
    """WCAG relative luminance of each pixel, 0 (black) to 1 (white)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    out = []
    for y in range(image.height()):
        for x in range(image.width()):
            color = QColor(image.pixel(x, y))
            r, g, b = channel(color.red()), channel(color.green()), channel(color.blue())
            out.append(0.2126 * r + 0.7152 * g + 0.0722 * b)
    return out


def _contrast(a: float, b: float) -> float:
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def test_resources_root_is_the_checkout_folder_from_source() -> None:
    assert resources.resources_root() == REPO / "resources"
    assert resources.resource_path("icons", "x.svg") == REPO / "resources" / "icons" / "x.svg"


def test_resources_root_is_inside_the_bundle_when_frozen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.icon_path("connected") == tmp_path / "resources" / "icons" / "connected.svg"


def test_resources_root_is_the_package_a_wheel_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "tray" / "_resources").mkdir(parents=True)
    monkeypatch.setattr(resources, "files", lambda package: tmp_path / package)
    assert resources.resources_root() == tmp_path / "tray" / "_resources"


def test_a_missing_resource_is_logged_once_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    for _ in range(3):
        path = resources.icon_path("connected")
    (record,) = [r for r in caplog.records if r.name == "tray.platform.resources"]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(f"Missing resource {path}")


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.value)
def test_every_state_has_an_icon_qt_draws_at_16px(qapp: QApplication, state: State) -> None:
    path = resources.icon_path(state.value)
    assert path.is_file()
    icon = QIcon(str(path))
    pixmap = icon.pixmap(16, 16)
    assert not pixmap.isNull()
    assert (pixmap.width(), pixmap.height()) == (16, 16)
    image = pixmap.toImage()
    opaque = sum(QColor(image.pixel(x, y)).alpha() == 255 for y in range(16) for x in range(16))
    assert opaque > 150, "the icon should fill most of its 16 px square"


@pytest.mark.parametrize("panel", PANELS, ids=["light", "dark"])
def test_state_icons_differ_in_shape_not_only_colour(qapp: QApplication, panel: QColor) -> None:
    """In greyscale at 16 px (colour blind, or a monochrome panel), each pair still differs in
    a dozen pixels or more."""
    glyphs = {
        state: [
            value > 0.5  # the light glyph (and the halo, the same in every icon)
            for value in _luminance(
                _on_panel(QIcon(str(resources.icon_path(state.value))), 16, panel)
            )
        ]
        for state in State
    }
    for a, b in itertools.combinations(State, 2):
        differing = sum(x != y for x, y in zip(glyphs[a], glyphs[b], strict=True))
        assert differing >= 12, f"{a.value} and {b.value} look alike at 16 px ({differing})"


@pytest.mark.parametrize(
    ("name", "least"),
    # State icons: body, halo and glyph stand out. The app icon: a dark body, its light rim and
    # glyph stand out on a dark panel.
    [*((state.value, 100) for state in State), (APP_NAME, 64)],
)
@pytest.mark.parametrize("panel", PANELS, ids=["light", "dark"])
def test_icons_stand_out_on_light_and_dark_panels(
    qapp: QApplication, panel: QColor, name: str, least: int
) -> None:
    icon = QIcon(str(resources.resource_path("icons", f"{name}.svg")))
    background = _luminance(_on_panel(QIcon(), 1, panel))[0]
    pixels = _luminance(_on_panel(icon, 16, panel))
    contrasting = sum(_contrast(value, background) >= 2 for value in pixels)
    assert contrasting >= least, f"{name} fades into a {panel.name()} panel ({contrasting} px)"


def test_app_icon_renders_match_the_svg(qapp: QApplication) -> None:
    """The hicolor PNGs are renders of the app icon SVG (packaging/render_icons.py)."""
    renderer = QSvgRenderer(str(resources.app_icon_path()))
    assert renderer.isValid()
    for size in THEME_SIZES:
        png = resources.resource_path(
            "icons", "hicolor", f"{size}x{size}", "apps", f"{APP_NAME}.png"
        )
        stored = QImage(str(png)).convertToFormat(QImage.Format.Format_ARGB32)
        assert (stored.width(), stored.height()) == (size, size), png
        fresh = QImage(size, size, QImage.Format.Format_ARGB32)
        fresh.fill(Qt.GlobalColor.transparent)
        painter = QPainter(fresh)
        renderer.render(painter)
        painter.end()
        step = max(1, size // 32)
        for y in range(0, size, step):
            for x in range(0, size, step):
                a, b = QColor(stored.pixel(x, y)), QColor(fresh.pixel(x, y))
                assert abs(a.alpha() - b.alpha()) <= 32, f"{png} is stale at {x},{y}: rerender"


BUNDLE = "/opt/opencode-tray/_internal"


def test_frozen_app_gives_started_programs_the_users_qt_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "_MEIPASS", BUNDLE, raising=False)
    monkeypatch.setenv("QT_PLUGIN_PATH", f"{BUNDLE}/PySide6/Qt/plugins")
    monkeypatch.setenv("QT_PLUGIN_PATH_ORIG", "/home/me/qt-plugins")
    monkeypatch.setenv("QML2_IMPORT_PATH", f"{BUNDLE}/PySide6/Qt/qml")
    monkeypatch.delenv("QML2_IMPORT_PATH_ORIG", raising=False)

    resources.restore_user_environment()

    assert os.environ["QT_PLUGIN_PATH"] == "/home/me/qt-plugins"
    assert "QT_PLUGIN_PATH_ORIG" not in os.environ
    assert "QML2_IMPORT_PATH" not in os.environ


def test_a_run_from_source_keeps_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    monkeypatch.setenv("QT_PLUGIN_PATH", "/home/me/qt-plugins")

    resources.restore_user_environment()

    assert os.environ["QT_PLUGIN_PATH"] == "/home/me/qt-plugins"
