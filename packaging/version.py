"""Print the app's version from pyproject.toml, for the build scripts.

Fails when the installed opencode-tray metadata says otherwise: the frozen app reads its version
from that metadata, so a stale install would ship the wrong one (fix: pip install -e .).
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def main() -> int:
    with PYPROJECT.open("rb") as file:
        wanted: str = tomllib.load(file)["project"]["version"]
    try:
        installed = version("opencode-tray")
    except PackageNotFoundError:
        installed = "not installed"
    if installed != wanted:
        print(
            f"pyproject.toml says {wanted}, the installed opencode-tray is {installed}: "
            "pip install -e . first",
            file=sys.stderr,
        )
        return 1
    print(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
