"""The chaos tests drive the real server through the engine tests' launches, and the real app
on the end-to-end tests' virtual desktop."""

from __future__ import annotations

from tests.desktop import virtual_desktop
from tests.engine.conftest import make_launch

__all__ = ["make_launch", "virtual_desktop"]
