"""A record of the server we started, so that a later run can stop one a crashed run left.

The record holds the pid, its start time (pids are reused) and its process group. It is written
when the server starts and removed when it exits; one still present at start-up means the app
died without stopping its server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

log = logging.getLogger(__name__)
POLL_S = 0.05


@dataclass(frozen=True)
class ServerRecord:
    pid: int
    create_time: float
    pgid: int | None


class RecordFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, pid: int) -> None:
        """Record the server `pid`. A server already gone (killed as it started) leaves nothing
        to record; a record that cannot be written is said, and only costs the clean-up of a
        leftover at the next start: neither may stop the engine from following the server."""
        try:
            create_time = psutil.Process(pid).create_time()
            pgid = os.getpgid(pid) if sys.platform != "win32" else None
        except (psutil.Error, ProcessLookupError):
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(ServerRecord(pid, create_time, pgid))))
            os.replace(tmp, self.path)
        except OSError as error:
            log.warning("could not record the server's pid in %s: %s", self.path, error)

    def clear(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("cannot remove the server record %s: %s", self.path, error)

    def read(self) -> ServerRecord | None:
        try:
            data = json.loads(self.path.read_text())
            return ServerRecord(int(data["pid"]), float(data["create_time"]), data.get("pgid"))
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("cannot read the server record %s: %s", self.path, error)
            return None
        except (ValueError, KeyError, TypeError) as error:
            log.warning("ignoring unreadable server record %s: %s", self.path, error)
            self.clear()
            return None


def leftover_processes(record: ServerRecord) -> list[psutil.Process]:
    """The processes of the recorded server still alive: the server and its process group.

    A pid is not reused while a process group of that number exists, so when another program
    has the recorded pid now, the group of that number is that program's, not the server's.
    """
    with contextlib.suppress(psutil.NoSuchProcess):
        if abs(psutil.Process(record.pid).create_time() - record.create_time) >= 0.01:
            return []
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["create_time", "status"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue  # dead already, only not yet reaped
            if proc.info["create_time"] < record.create_time - 0.01:
                continue
            if proc.pid == record.pid:
                if abs(proc.info["create_time"] - record.create_time) < 0.01:
                    found.append(proc)
            elif record.pgid is not None and os.getpgid(proc.pid) == record.pgid:
                found.append(proc)
    return found


async def stop_leftover(records: RecordFile, grace_s: float) -> int:
    """Stop a server (and its group) that a crashed earlier run left; returns how many died."""
    record = records.read()
    if record is None:
        return 0
    procs = leftover_processes(record)
    if procs:
        log.warning(
            "stopping %d process(es) of an opencode server left by an earlier run (pid %d)",
            len(procs),
            record.pid,
        )
        await terminate_all(procs, grace_s)
    records.clear()
    return len(procs)


async def terminate_all(procs: list[psutil.Process], grace_s: float) -> None:
    """SIGTERM, then SIGKILL to whatever is still alive after `grace_s`."""
    for stop in (psutil.Process.terminate, psutil.Process.kill):
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                stop(proc)
        for _ in range(max(1, round(grace_s / POLL_S))):
            procs = [p for p in procs if _alive(p)]
            if not procs:
                return
            await asyncio.sleep(POLL_S)  # not our children: nothing to await but time


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
