"""The shape the code keeps: short functions, a front door of small modules, and each server
generation's wire format in one file. (The layer rules are import-linter's: `./dev test`.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TRAY = Path(__file__).resolve().parent.parent / "tray"
MAX_FUNCTION_LINES = 40
MAX_DOOR_MODULE_LINES = 400
DOOR_PACKAGES = ("frontdoor", "core/door")
# What only a generation's own module may spell: its stream paths and event names.
WIRE_WORDS = re.compile(
    r"""["'](/global/event|/global/health|server\.heartbeat|session\.idle)["']"""
)


def _modules() -> list[Path]:
    return sorted(TRAY.rglob("*.py"))


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        f"{path.relative_to(TRAY.parent)}:{node.lineno} {node.name} ({length} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]


def test_no_function_is_over_forty_lines() -> None:
    assert [line for path in _modules() for line in _long_functions(path)] == []


@pytest.mark.parametrize("package", DOOR_PACKAGES)
def test_no_front_door_module_is_over_four_hundred_lines(package: str) -> None:
    sizes = {
        str(path.relative_to(TRAY.parent)): len(path.read_text().splitlines())
        for path in (TRAY / package).glob("*.py")
    }
    assert sizes, f"no modules in tray/{package}"
    assert {name: n for name, n in sizes.items() if n > MAX_DOOR_MODULE_LINES} == {}


def test_a_generation_s_wire_format_lives_in_its_own_module() -> None:
    spelled = {
        str(path.relative_to(TRAY.parent))
        for path in _modules()
        if WIRE_WORDS.search(path.read_text()) and path.parent.name != "generations"
    }
    assert spelled == set()
