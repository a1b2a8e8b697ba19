"""Why the server is not connected: a concrete cause with a one-line text and the facts behind it.

Plain data, no I/O. Every way out of `connected` carries one of these, built by the functions
below so that the text and the facts always agree.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

FactValue = str | int | float | tuple[str, ...] | None

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BUN_PANIC = re.compile(r"panic\((?P<thread>[^)]*)\):\s*(?P<what>.+)")
TAIL_LINES = 8


class CauseKind(Enum):
    BINARY_NOT_FOUND = "binary_not_found"
    NOT_EXECUTABLE = "not_executable"
    SPAWN_FAILED = "spawn_failed"
    PORT_IN_USE = "port_in_use"
    EXITED = "exited"
    KILLED_BY_SIGNAL = "killed_by_signal"
    STARTUP_TIMEOUT = "startup_timeout"
    UNSUPPORTED_VERSION = "unsupported_version"
    HEARTBEAT_MISSED = "heartbeat_missed"
    SERVER_HUNG = "server_hung"
    STREAM_CLOSED = "stream_closed"
    STREAM_BROKEN = "stream_broken"
    STREAM_GARBAGE = "stream_garbage"
    CONNECTION_REFUSED = "connection_refused"
    WRONG_PASSWORD = "wrong_password"
    HTTP_ERROR = "http_error"
    REQUEST_FAILED = "request_failed"
    CRASH_LOOP = "crash_loop"
    MEMORY_LIMIT = "memory_limit"
    REQUESTS_HANG = "requests_hang"
    BINARY_UPDATED = "binary_updated"
    KEYRING_WAITING = "keyring_waiting"


# How much a cause explains: within one incident a stronger cause replaces a weaker one, so a
# broken stream followed by the process's exit is reported as the exit.
_STREAM_LEVEL = {
    CauseKind.HEARTBEAT_MISSED,
    CauseKind.STREAM_CLOSED,
    CauseKind.STREAM_BROKEN,
    CauseKind.STREAM_GARBAGE,
    CauseKind.CONNECTION_REFUSED,
    CauseKind.HTTP_ERROR,
    CauseKind.REQUEST_FAILED,
}
# Causes that retrying cannot fix: the user has to change something.
_FATAL = {
    CauseKind.BINARY_NOT_FOUND,
    CauseKind.NOT_EXECUTABLE,
    CauseKind.UNSUPPORTED_VERSION,
    CauseKind.CRASH_LOOP,
}


@dataclass(frozen=True)
class Cause:
    kind: CauseKind
    text: str
    facts: Mapping[str, FactValue] = field(default_factory=dict)

    @property
    def weight(self) -> int:
        """How much this cause explains; the stronger one wins within an incident."""
        if self.kind in _FATAL:
            return 3
        return 1 if self.kind in _STREAM_LEVEL else 2

    @property
    def is_fatal(self) -> bool:
        """True when retrying cannot help and the supervisor must give up."""
        return self.kind in _FATAL

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "text": self.text,
            "facts": {k: list(v) if isinstance(v, tuple) else v for k, v in self.facts.items()},
        }


def clean_lines(lines: Sequence[str]) -> tuple[str, ...]:
    """Output lines without ANSI colours and blank lines, as shown to the user."""
    stripped = (_ANSI.sub("", line).rstrip() for line in lines)
    return tuple(line for line in stripped if line.strip())


def binary_not_found(tried: Sequence[str]) -> Cause:
    where = ", ".join(tried) if tried else "PATH"
    return Cause(
        CauseKind.BINARY_NOT_FOUND,
        f"opencode not found (tried {where}): install opencode-ai or set its path in Settings",
        {"tried": tuple(tried)},
    )


def not_executable(path: str) -> Cause:
    return Cause(
        CauseKind.NOT_EXECUTABLE,
        f"{path} is not executable: fix its permissions or choose another binary in Settings",
        {"path": path},
    )


def spawn_failed(path: str, error: str) -> Cause:
    return Cause(
        CauseKind.SPAWN_FAILED, f"could not start {path}: {error}", {"path": path, "error": error}
    )


def port_in_use(port: int, owner: str | None) -> Cause:
    by = f" by {owner}" if owner else " by another program (the OS does not say which)"
    return Cause(
        CauseKind.PORT_IN_USE,
        f"port {port} is in use{by}: stop it or choose another port in Settings",
        {"port": port, "owner": owner},
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def size_text(megabytes: float) -> str:
    """'850 MB', '4.3 GB', '4 GB' (1 GB = 1024 MB)."""
    if megabytes < 1024:
        return f"{megabytes:.0f} MB"
    return f"{megabytes / 1024:.1f}".removesuffix(".0") + " GB"


@dataclass(frozen=True)
class OutOfMemory:
    """Why a SIGKILL the app did not send looks like the kernel's out-of-memory killer: the
    kernel's record (cgroup `memory.events` `oom_kill` went up) or memory high at the last
    sample; `memory_mb` is the last measured size of the server's process tree."""

    memory_mb: float | None
    kernel_recorded: bool


def process_exited(
    returncode: int, stderr_tail: Sequence[str], oom: OutOfMemory | None = None
) -> Cause:
    """Classify an unexpected exit: signal or code, and what the last output lines say; `oom`
    words a SIGKILL as the out-of-memory killer's."""
    tail = clean_lines(stderr_tail)[-TAIL_LINES:]
    facts: dict[str, FactValue] = {"returncode": returncode, "stderr_tail": tail}
    detail = _recognise_output(tail)
    if detail:
        facts["recognised"] = detail
    suffix = f": {detail}" if detail else (f": {tail[-1]}" if tail else "")
    signum = -returncode if returncode < 0 else returncode - 128 if 128 < returncode < 160 else 0
    if signum:
        name = _signal_name(signum)
        facts["signal"] = name
        if oom is not None and signum == signal.SIGKILL:
            return _killed_out_of_memory(oom, facts)
        return Cause(CauseKind.KILLED_BY_SIGNAL, f"server killed by {name}{suffix}", facts)
    return Cause(CauseKind.EXITED, f"server exited with code {returncode}{suffix}", facts)


def _killed_out_of_memory(oom: OutOfMemory, facts: dict[str, FactValue]) -> Cause:
    size = f", last measured at {size_text(oom.memory_mb)}" if oom.memory_mb is not None else ""
    why = "the kernel recorded an OOM kill" if oom.kernel_recorded else "memory was high"
    facts.update(
        out_of_memory=True,
        memory_mb=None if oom.memory_mb is None else round(oom.memory_mb),
        evidence="memory.events oom_kill" if oom.kernel_recorded else "memory high",
    )
    return Cause(
        CauseKind.KILLED_BY_SIGNAL,
        f"server killed by the out-of-memory killer (SIGKILL; {why}){size}",
        facts,
    )


def _recognise_output(tail: Sequence[str]) -> str | None:
    for line in tail:
        panic = _BUN_PANIC.search(line)
        if panic:
            return f"Bun crashed ({panic.group('what').strip()})"
    if any("Bun has crashed" in line for line in tail):
        return "Bun crashed"
    if any("ServeError" in line for line in tail):
        return "ServeError: the server could not listen (is the port taken?)"
    return None


def startup_timeout(seconds: float, last_readiness: Cause | None = None) -> Cause:
    """`last_readiness`: what the last readiness check got, if the server listened but never
    answered (its fact keeps the name `last_health` of `status --json`)."""
    if last_readiness is None:
        advice = "raise the startup timeout in Settings if your MCP or LSP servers are slow"
    else:
        advice = f"the last health check got: {last_readiness.text}"
    return Cause(
        CauseKind.STARTUP_TIMEOUT,
        f"startup timed out after {seconds:.0f} s: {advice}",
        {"seconds": seconds, "last_health": last_readiness.text if last_readiness else None},
    )


def unsupported_version(version: str, supported: str) -> Cause:
    return Cause(
        CauseKind.UNSUPPORTED_VERSION,
        f"opencode {version} is not supported (opencode-tray supports {supported}): "
        "install a supported version or choose another binary in Settings",
        {"version": version, "supported": supported},
    )


def heartbeat_missed(seconds: float) -> Cause:
    return Cause(
        CauseKind.HEARTBEAT_MISSED,
        f"no heartbeat for {seconds:.0f} s: the event stream stalled",
        {"seconds": round(seconds, 1)},
    )


def server_hung(seconds: float, last: Cause | None = None) -> Cause:
    """The server runs but its event stream has been unusable for `seconds`; `last` says how."""
    how = f" ({last.text})" if last else ""
    return Cause(
        CauseKind.SERVER_HUNG,
        f"server unresponsive for {seconds:.0f} s{how}: restarting it",
        {"seconds": round(seconds, 1), "last": last.text if last else None},
    )


def stream_closed() -> Cause:
    return Cause(CauseKind.STREAM_CLOSED, "event stream closed by the server")


def stream_broken(error: str) -> Cause:
    return Cause(CauseKind.STREAM_BROKEN, f"event stream broke: {error}", {"error": error})


def request_failed(error: str) -> Cause:
    return Cause(
        CauseKind.REQUEST_FAILED, f"request to the server failed: {error}", {"error": error}
    )


def stream_garbage(detail: str) -> Cause:
    return Cause(
        CauseKind.STREAM_GARBAGE, f"event stream sent garbage: {detail}", {"detail": detail}
    )


def connection_refused(url: str) -> Cause:
    return Cause(CauseKind.CONNECTION_REFUSED, f"connection refused at {url}", {"url": url})


def wrong_password() -> Cause:
    return Cause(
        CauseKind.WRONG_PASSWORD,
        "401 wrong password: the server was started with another password; restarting it",
    )


def http_error(status: int, detail: str = "") -> Cause:
    suffix = f": {detail}" if detail else ""
    return Cause(
        CauseKind.HTTP_ERROR, f"HTTP error {status}{suffix}", {"status": status, "detail": detail}
    )


def keyring_waiting(timeout_s: float) -> Cause:
    """The server waits for its password from a keyring that has not answered yet."""
    return Cause(
        CauseKind.KEYRING_WAITING,
        "waiting for the keyring (is it asking for its password?): the server starts when it "
        f"answers, or after {timeout_s:.0f} s with a password for this run only",
        {"timeout_s": timeout_s},
    )


def memory_limit(memory_mb: float, limit_mb: int, waited_s: float | None = None) -> Cause:
    """A restart the app decided on: the server's process tree used more than the limit;
    `waited_s` when the grace period for busy sessions ran out."""
    waited = f"; busy sessions waited for {waited_s / 60:.0f} min" if waited_s is not None else ""
    return Cause(
        CauseKind.MEMORY_LIMIT,
        f"restarted: the server used {size_text(memory_mb)} (limit {size_text(limit_mb)}){waited}",
        {"memory_mb": round(memory_mb), "limit_mb": limit_mb, "waited_s": waited_s},
    )


def requests_hang(seconds: float, path: str) -> Cause:
    """Heartbeats go on but a request got no answer for `seconds`: restarted like a hung server."""
    return Cause(
        CauseKind.REQUESTS_HANG,
        f"requests hang: {path} got no answer for {seconds:.0f} s while the event stream "
        "went on; restarting the server",
        {"seconds": round(seconds, 1), "path": path},
    )


def binary_updated(running: str, on_disk: str, path: str) -> Cause:
    """A restart the app decided on: the binary on disk is another version than the server."""
    return Cause(
        CauseKind.BINARY_UPDATED,
        f"restarted onto opencode {on_disk}: the binary on disk changed (was {running})",
        {"running": running, "on_disk": on_disk, "path": path},
    )


def crash_loop(crashes: int, window_s: float, last: Cause) -> Cause:
    return Cause(
        CauseKind.CRASH_LOOP,
        f"gave up after {crashes} crashes in {window_s / 60:.0f} min; last: {last.text}",
        {"crashes": crashes, "window_s": window_s, "last": last.text},
    )
