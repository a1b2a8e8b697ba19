"""The health watch's senses and hands: what the core's `HealthWatch` is fed, at a slow tick.

- memory: the RSS of the server's whole process tree (psutil), and the kernel's OOM record
  (cgroup v2 `memory.events`, v1 `memory.oom_control`: `oom_kill N`), where readable;
- wedged requests: `GET /global/health` with the hang limit as its timeout, while connected;
- the binary on disk: its file is looked at each tick (a stat), and asked `--version` only when
  it changed;
- updates: `opencode upgrade <version>`, the installed opencode's own way (it finds out how it
  was installed: curl script, npm, pnpm, bun, brew, choco, scoop).

`HealthMonitor.tick` runs every `interval_s`; what it decides goes to the engine's `dispatch`
as `RestartFor`. Nothing here knows about Qt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from tray.core.causes import OutOfMemory
from tray.core.messages import Event, RestartFor
from tray.core.server_health import (
    PROBE_PATH,
    HealthPolicy,
    HealthStatus,
    HealthWatch,
    MemorySample,
)
from tray.core.status import State, Status
from tray.engine.one_shot import last_line, output_within, start_one_shot
from tray.engine.version_check import VersionCheckError, ask_version

UPDATE_TIMEOUT_S = 600.0
# `opencode --version` loads the whole binary: 1.2 s idle, over 10 s on a loaded machine.
VERSION_TIMEOUT_S = 60.0
_SHOWN_OUTPUT = 200
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_ROOT = Path("/proc")

log = logging.getLogger(__name__)


def tree_rss(pid: int) -> int | None:
    """Bytes of RSS of `pid` and all its descendants, or None when `pid` is gone or going (a
    killed process gives its memory back before it is a zombie: the last size before its death
    is what counts)."""
    try:
        root = psutil.Process(pid)
        own = root.memory_info().rss
        if own == 0 or root.status() == psutil.STATUS_ZOMBIE:
            return None
        tree = root.children(recursive=True)
    except psutil.Error:
        return None
    total = own
    for proc in tree:
        with contextlib.suppress(psutil.Error):  # a child that just exited
            total += proc.memory_info().rss
    return total


def oom_record(pid: int, root: Path = CGROUP_ROOT, proc: Path = PROC_ROOT) -> Path | None:
    """The file where the kernel counts OOM kills in `pid`'s memory cgroup, if readable."""
    try:
        lines = (proc / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if controllers == "":
            candidate = root / relative / "memory.events"
        elif "memory" in controllers.split(","):
            candidate = root / "memory" / relative / "memory.oom_control"
        else:
            continue
        if oom_kills(candidate) is not None:
            return candidate
    return None


def oom_kills(record: Path | None) -> int | None:
    """The `oom_kill` count in a `memory.events` or `memory.oom_control` file."""
    if record is None:
        return None
    try:
        text = record.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return None


def measure(pid: int, record: Path | None) -> MemorySample | None:
    rss = tree_rss(pid)
    if rss is None:
        return None
    machine = psutil.virtual_memory()
    return MemorySample(rss, machine.total, machine.available, oom_kills(record))


@dataclass(frozen=True)
class _FileState:
    path: str
    mtime_ns: int
    size: int
    inode: int


def file_state(binary: str) -> _FileState | None:
    """What says that a binary was replaced: its real path (a link followed), time, size, inode."""
    real = os.path.realpath(binary)
    try:
        stat = os.stat(real)
    except OSError:
        return None
    return _FileState(real, stat.st_mtime_ns, stat.st_size, stat.st_ino)


async def run_update(
    binary: str, version: str, env: Mapping[str, str], timeout_s: float = UPDATE_TIMEOUT_S
) -> tuple[bool, str]:
    """`<binary> upgrade <version>`, as the user would run it: whether it exited 0, and its last
    output line (or, when it failed, a line that says how)."""
    log.info("updating opencode: %s upgrade %s", binary, version)
    try:
        proc = await start_one_shot(binary, "upgrade", version, env=env, stderr_to_stdout=True)
    except OSError as error:
        return (
            False,
            f"update to {version} failed: could not run {binary} ({error.strerror or error})",
        )
    try:
        output, _ = await output_within(proc, timeout_s)
    except TimeoutError:
        return False, f"update to {version} failed: no end within {timeout_s:.0f} s"
    text = output.decode(errors="replace")
    log.info("opencode upgrade exited with %s: %s", proc.returncode, text[-2000:])
    last = _last_line(text)
    if proc.returncode != 0:
        return False, f"update to {version} failed (exit code {proc.returncode}): {last}"
    return True, last


def _last_line(text: str) -> str:
    """The last line of `opencode upgrade`'s output that says something (not its box drawing)."""
    return last_line(text, _SHOWN_OUTPUT, decoration="│┌└■◇◆●○")


class HealthMonitor:
    """Feeds the core's watch at a slow tick; what it decides is dispatched to the engine.

    `status` is the engine's status; `client` the HTTP client to the server (None while there is
    none); `start` runs a background task; `publish` tells the engine's subscribers of a change;
    `oom_record_path` stands in for the server's cgroup file (tests)."""

    def __init__(
        self,
        policy: HealthPolicy,
        *,
        status: Callable[[], Status],
        dispatch: Callable[[Event], None],
        client: Callable[[], httpx.AsyncClient | None],
        start: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]],
        publish: Callable[[], None],
        oom_record_path: Path | None = None,
    ) -> None:
        self.watch = HealthWatch(policy)
        self._status = status
        self._dispatch = dispatch
        self._client = client
        self._start = start
        self._publish = publish
        self._oom_record_path = oom_record_path
        self._record: Path | None = None
        self._record_pid: int | None = None
        self._binary: str | None = None
        self._binary_state: _FileState | None = None
        self._probe: asyncio.Task[None] | None = None
        self._version_check: asyncio.Task[None] | None = None

    def set_policy(self, policy: HealthPolicy) -> None:
        self.watch.policy = policy

    def status(self) -> HealthStatus:
        return self.watch.status()

    def follow(self, status: Status) -> None:
        """The server the supervisor runs now (its pid and version)."""
        self.watch.server(status.pid, status.version)

    def binary_started(self, binary: str) -> None:
        """The server is started from `binary` as it is on disk now."""
        self._binary = binary
        self._binary_state = file_state(binary)

    def exit_evidence(self, pid: int, returncode: int) -> OutOfMemory | None:
        """For a server that exited by itself: why a SIGKILL looks like the OOM killer's."""
        if returncode not in (-signal.SIGKILL, 128 + signal.SIGKILL):
            return None
        record = self._record if self._record_pid == pid else None
        return self.watch.exit_evidence(pid, oom_kills(record))

    async def run(self) -> None:
        """Tick forever at the policy's interval; a tick that fails is logged, not the end."""
        while True:
            await asyncio.sleep(self.watch.policy.interval_s)
            try:
                self.tick()
            except Exception:
                log.exception("the health tick failed; trying again at the next one")

    def tick(self) -> None:
        status = self._status()
        self.follow(status)
        pid = status.pid
        connected = status.state is State.CONNECTED
        if pid is not None:
            sample = measure(pid, self._record_for(pid))
            if sample is not None:
                self.watch.sampled(pid, sample)
            if connected and self._probe is None:
                self._probe = self._start(self._probe_once(pid), "health probe")
        self._look_at_binary()
        self.decide()

    def decide(self) -> None:
        status = self._status()
        connected = status.state is State.CONNECTED
        now = asyncio.get_running_loop().time()
        decisions = self.watch.decide(connected, status.busy_sessions, now)
        for decision in decisions:
            log.warning("restarting server %d: %s", decision.pid, decision.cause.text)
            self._dispatch(RestartFor(decision.pid, decision.cause))
        if not decisions:
            self._publish()

    async def update(self, version: str, binary: str, env: Mapping[str, str]) -> None:
        """Run opencode's own update to `version`, then ask the binary which version it is now
        (an unknown install method makes `upgrade` ask, and with no terminal do nothing)."""
        ok, said = await run_update(binary, version, env)
        if ok:
            said = await self._updated_to(binary, version, said)
        self.watch.update_finished(said)
        self.decide()

    async def _updated_to(self, binary: str, version: str, said: str) -> str:
        try:
            found = await ask_version(binary, VERSION_TIMEOUT_S)
        except VersionCheckError as error:
            return f"update to {version}: the binary cannot say its version now ({error})"
        self._binary_state = file_state(binary)
        self.watch.binary_on_disk(binary, found)
        if found == version:
            return f"updated to opencode {version}"
        return f"update to {version} left opencode {found} on disk" + (f": {said}" if said else "")

    # -- the parts -------------------------------------------------------------------------------

    def _record_for(self, pid: int) -> Path | None:
        if self._record_pid != pid:
            self._record_pid = pid
            self._record = self._oom_record_path or oom_record(pid)
        return self._record

    async def _probe_once(self, pid: int) -> None:
        loop = asyncio.get_running_loop()
        client = self._client()
        try:
            if client is None:
                return
            started = loop.time()
            hang_s = self.watch.policy.request_hang_s
            try:
                await client.get(PROBE_PATH, timeout=hang_s)
            except httpx.TimeoutException:
                log.warning("%s got no answer within %.0f s", PROBE_PATH, hang_s)
                self.watch.probe_hung(pid, started, loop.time())
                self.decide()
            except httpx.HTTPError:
                pass  # refused or broken: the event stream's watchdog tells that story
        finally:
            self._probe = None

    def _look_at_binary(self, force: bool = False) -> None:
        binary = self._binary
        if binary is None or self._version_check is not None:
            return
        now = file_state(binary)
        if now is None or (now == self._binary_state and not force):
            return
        self._binary_state = now
        self._version_check = self._start(self._check_version(binary), "binary version")

    async def _check_version(self, binary: str) -> None:
        try:
            version = await ask_version(binary, VERSION_TIMEOUT_S)
        except VersionCheckError as error:
            log.warning("the binary on disk changed but cannot say its version: %s", error)
            return
        finally:
            self._version_check = None
        log.info("the binary on disk is opencode %s", version)
        self.watch.binary_on_disk(binary, version)
        self.decide()
