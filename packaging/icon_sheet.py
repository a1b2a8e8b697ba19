"""Render every tray icon as Qt draws it, on a light and a dark panel, into one contact sheet.

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/icon_sheet.py [out.png]

Each row: the icon at 16, 22 and 32 px on a light panel, the same on a dark panel, then the
16 px render magnified 6x (nearest neighbour) on both, to judge it pixel by pixel.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QApplication

from tray.core.status import State
from tray.platform.resources import app_icon_path, icon_path, resource_path

SIZES = (16, 22, 32)
ZOOM = 6
PANELS = (QColor("#eeeeee"), QColor("#1f1f1f"))
LABEL_W = 120
CELL = 44
ROW_H = 16 * ZOOM + 12


def _row_icons() -> list[tuple[str, Path]]:
    return [(state.value, icon_path(state.value)) for state in State] + [("app", app_icon_path())]


def render_sheet(out: Path) -> None:
    rows = _row_icons()
    panel_w = CELL * len(SIZES) + 16 * ZOOM + 24
    sheet = QImage(LABEL_W + panel_w * len(PANELS), ROW_H * len(rows), QImage.Format.Format_ARGB32)
    sheet.fill(QColor("#808080"))
    painter = QPainter(sheet)
    painter.setFont(QFont("DejaVu Sans", 10))
    for row, (name, path) in enumerate(rows):
        icon = QIcon(str(path))
        if icon.isNull():
            raise SystemExit(f"Qt cannot load {path}")
        top = row * ROW_H
        painter.setPen(QColor("#000000"))
        painter.drawText(QRect(6, top, LABEL_W - 6, ROW_H), Qt.AlignmentFlag.AlignVCenter, name)
        for index, panel in enumerate(PANELS):
            left = LABEL_W + index * panel_w
            painter.fillRect(QRect(left, top + 2, panel_w - 4, ROW_H - 4), panel)
            for column, size in enumerate(SIZES):
                x = left + 8 + column * CELL
                painter.drawPixmap(x, top + (ROW_H - size) // 2, icon.pixmap(size, size))
            small = _on_panel(icon.pixmap(16, 16), panel)
            zoomed = small.scaled(16 * ZOOM, 16 * ZOOM, Qt.AspectRatioMode.IgnoreAspectRatio)
            painter.drawPixmap(left + 8 + len(SIZES) * CELL, top + 6, zoomed)
    painter.end()
    if not sheet.save(str(out)):
        raise SystemExit(f"cannot write {out}")


def _on_panel(pixmap: QPixmap, panel: QColor) -> QPixmap:
    """The pixmap composed onto the panel colour, so that magnifying shows the real pixels."""
    flat = QPixmap(pixmap.size())
    flat.fill(panel)
    painter = QPainter(flat)
    painter.drawPixmap(0, 0, pixmap)
    painter.end()
    return flat


def main(argv: list[str]) -> None:
    app = QApplication.instance() or QApplication(argv[:1])
    out = Path(argv[1]) if len(argv) > 1 else resource_path("screenshots", "icons.png")
    render_sheet(out)
    print(out)
    del app


if __name__ == "__main__":
    main(sys.argv)
