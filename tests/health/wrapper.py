"""A wrapper around the real opencode binary, for the health tests.

make_wrapper(path, real, version, control) writes an executable script that
- answers `--version` with `version` (a test rewrites it: "the binary on disk changed");
- runs `upgrade V` by rewriting itself to version V (a new file, as a package manager does)
  and noting the names of its environment variables in PATH.env;
- for `serve`, starts a child of the server that allocates as many MB as the file `control`
  says (a test grows the server's process tree), then execs the real binary under its own
  name (so the tests' stray check finds it).

python wrapper.py allocate CONTROL PARENT_PID   # the allocating child
python wrapper.py upgrade SCRIPT VERSION        # what `SCRIPT upgrade VERSION` runs
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

MB = 1024 * 1024
POLL_S = 0.1

_SCRIPT = """#!/bin/bash
if [ "$1" = "--version" ]; then echo "{version}"; exit 0; fi
if [ "$1" = "upgrade" ]; then exec "{python}" "{me}" upgrade "$0" "$2"; fi
if [ "$1" = "serve" ] && [ -n "{control}" ]; then "{python}" "{me}" allocate "{control}" $$ & fi
exec -a "$0" "{real}" "$@"
"""


def make_wrapper(path: Path, real: str, version: str, control: Path | None = None) -> Path:
    params = {"real": real, "control": str(control) if control else ""}
    path.with_suffix(".json").write_text(json.dumps(params))
    me = Path(__file__).resolve()
    text = _SCRIPT.format(python=sys.executable, me=me, version=version, **params)
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    fresh.chmod(0o755)
    os.replace(fresh, path)
    return path


def _allocate(control: Path, parent: int) -> None:
    held = b""
    while os.getppid() == parent:
        try:
            wanted = int(control.read_text().strip() or 0)
        except (OSError, ValueError):
            wanted = 0
        if wanted * MB != len(held):
            held = b"\x01" * (wanted * MB)  # written, so resident
        time.sleep(POLL_S)


def _upgrade(script: Path, version: str) -> None:
    params = json.loads(script.with_suffix(".json").read_text())
    control = Path(params["control"]) if params["control"] else None
    script.with_suffix(".env").write_text("\n".join(sorted(os.environ)))
    make_wrapper(script, params["real"], version, control)
    print(f"Upgraded to {version}")


if __name__ == "__main__":
    if sys.argv[1] == "allocate":
        _allocate(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        _upgrade(Path(sys.argv[2]), sys.argv[3])
