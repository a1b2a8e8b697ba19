"""The real server's processes as the tests see them: found by command line, killed, frozen,
waited for until dead."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import psutil

from tests.support.waiting import wait_until
from tray.engine.launch import ServerLaunch

DEATH_S = 10.0


def server_processes(launch: ServerLaunch) -> list[psutil.Process]:
    """Live processes whose command line names this launch's binary and port."""
    binary = launch.binary_override or launch.settings.opencode_path
    port = str(launch.settings.port)
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if binary in cmdline and port in cmdline:
            found.append(proc)
    return found


def kill_servers(launch: ServerLaunch) -> list[int]:
    """SIGKILL (after SIGCONT) what `server_processes` finds; the pids it killed."""
    procs = server_processes(launch)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.resume()
            proc.kill()
    return [proc.pid for proc in procs]


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `processes` still running (a zombie has ended)."""
    found = []
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def is_dead(pid: int) -> bool:
    """No process `pid`, or only its zombie."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_dead(pid: int, within: float = DEATH_S) -> float:
    """Seconds until `pid` is gone (a zombie counts as gone); fails the test after `within`."""
    started = time.monotonic()
    await wait_until(lambda: is_dead(pid), f"process {pid} to die", within)
    return time.monotonic() - started


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP `pid` for the block; SIGCONT whatever happens (a no-op once it is dead)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
