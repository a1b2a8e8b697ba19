"""The real app (`python -m tray`) on a virtual desktop with a tray, dunst and a keyring, for the
benchmarks that measure the app process itself."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
from benchlib import free_port

from tests.desktop import VirtualDesktop
from tests.e2e.app_driver import AppDriver
from tray.core.settings import Settings


@contextlib.contextmanager
def desktop(prefix: str) -> Iterator[tuple[VirtualDesktop, Path]]:
    """A virtual desktop in a temporary folder, and that folder."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        with VirtualDesktop(root / "desk", keyring=True) as desk:
            yield desk, root


def app(desk: VirtualDesktop, workdir: Path, binary: str, front_door: bool = True) -> AppDriver:
    """An app (not started yet) with its own settings: this binary, a free port."""
    project = desk.home / "project"
    project.mkdir(exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        opencode_path=binary,
        port=free_port(),
        working_directory=str(project),
        front_door=front_door,
    )
    return AppDriver(desk, workdir, settings)


def wakeups(pid: int) -> int:
    """Context switches so far, voluntary and not, of every thread of `pid` (each one is the
    process being woken up or preempted)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split(":")[1])
    return total


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)
