"""Server health beyond "alive": memory, wedged requests, stuck turns and updates, decided.

Pure: the engine feeds what it measured (memory samples, probe results, the binary's version on
disk) and what the event stream said, each with the monotonic time, and asks `decide` at its
slow health tick. The answers are restarts the app decides on, each with its cause, and a
`HealthStatus` to show. `Notices` turns successive health statuses into the notifications to
show, one per stuck session, one per announced version and one per limit found too low.

The rules:
- memory: above the limit, restart at the next moment no session is busy, or once the grace
  period for busy sessions has run out; back under the limit, nothing is pending any more;
- a limit too low: a server over the limit before it did any work (no session busy on it and
  no event about a session since it started) is not restarted, as a new one would be just as
  big; the highest such sample is what a fresh server needs, and while the limit is at or below
  it no server is restarted for memory (one that worked and grew would only land over the limit
  again after its restart), nor is memory over the limit called high; that ends when the limit
  is raised above it, or when a fresh server is seen under the limit;
- wedged requests: a probe that got no answer within the hang limit while the event stream went
  on is a `requests_hang` restart (the stream's own silence is the heartbeat watchdog's);
- stuck turns: a busy session with no event about it for `stuck_after_s` is stuck, until an
  event about it comes or it is no longer busy; without an event since the stream was last down,
  from when it was first seen busy; nothing is aborted here;
- updates: a binary on disk that reports another version than the running server is restarted
  onto at the next moment no session is busy (never during a busy turn), once per version;
- a SIGKILL the app did not send is the out-of-memory killer's when the kernel recorded an OOM
  kill since the server started, or when memory was high at the last sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tray.core import causes
from tray.core.causes import Cause, OutOfMemory
from tray.generations.events import ServerEvent, UpdateAvailable, session_of
from tray.generations.v1 import V1

MB = 1024 * 1024
PROBE_PATH = V1.health_path  # the app speaks 1.x until it speaks 2.x too
# "Memory was high" without a limit: the server held this share of the machine's RAM, or the
# machine had less than this share left.
HIGH_SHARE_OF_RAM = 0.5
LOW_AVAILABLE_SHARE = 0.05


@dataclass(frozen=True)
class HealthPolicy:
    """The health rules; durations in seconds, `memory_limit_mb` 0 for no limit."""

    memory_limit_mb: int = 8192
    memory_grace_s: float = 900.0
    stuck_after_s: float = 600.0
    request_hang_s: float = 60.0
    interval_s: float = 30.0


@dataclass(frozen=True)
class MemorySample:
    """The server's whole process tree and the machine, at one moment."""

    rss_bytes: int
    total_bytes: int
    available_bytes: int
    oom_kills: int | None = None  # cgroup `memory.events` `oom_kill`; None where unreadable

    @property
    def rss_mb(self) -> float:
        return self.rss_bytes / MB


@dataclass(frozen=True)
class StuckTurn:
    session_id: str
    silent_since: float  # monotonic: the last event about it, or when it was first seen busy

    def silent_for(self, now: float) -> float:
        return now - self.silent_since


@dataclass(frozen=True)
class HealthStatus:
    """What the health watch shows: memory, stuck turns, updates, a restart waiting for idle."""

    memory_mb: float | None = None
    memory_peak_mb: float | None = None  # since the server started
    memory_limit_mb: int = 0
    stuck: tuple[StuckTurn, ...] = ()
    update_available: str | None = None  # the newest version the server announced
    binary_version: str | None = None  # the version of the binary on disk, when it was probed
    pending_restart: Cause | None = None  # decided, waiting for no session to be busy
    update_note: str | None = None  # how the last "Update and restart" went
    # The limit is at or below what a fresh server needs: this much (no memory restarts).
    memory_limit_too_low_mb: float | None = None

    @property
    def stuck_sessions(self) -> tuple[str, ...]:
        return tuple(turn.session_id for turn in self.stuck)


NOTHING_MEASURED = HealthStatus()


@dataclass(frozen=True)
class RestartServer:
    """Restart the server with this pid for this cause (a stale pid is ignored)."""

    pid: int
    cause: Cause


@dataclass
class _Server:
    """What the watch knows about one server process; a new pid starts afresh."""

    pid: int
    version: str | None = None
    sample: MemorySample | None = None
    peak_mb: float | None = None
    oom_kills_at_start: int | None = None
    over_limit_since: float | None = None
    hang_s: float | None = None  # a probe got no answer for this long while the stream went on
    restart_asked: bool = False
    worked: bool = False  # a session was busy on it, or an event about a session came
    fresh_over: bool = False  # over the limit before it worked: its own dips under clear nothing
    last_event: dict[str, float] = field(default_factory=dict)  # session -> time
    noticed_busy: dict[str, float] = field(default_factory=dict)  # session -> first seen busy


class HealthWatch:
    def __init__(self, policy: HealthPolicy) -> None:
        self.policy = policy
        self._server: _Server | None = None
        self._stream_event_at: float | None = None
        self._update_available: str | None = None
        self._binary_version: str | None = None
        self._binary_path = ""
        self._restarted_onto: set[str] = set()  # disk versions a restart was asked for
        self._update_note: str | None = None
        self._stuck: tuple[StuckTurn, ...] = ()
        self._pending: Cause | None = None
        # The most memory a server needed before it did any work, when that was over the limit.
        self._fresh_footprint_mb: float | None = None

    # -- what the engine feeds -------------------------------------------------------------------

    def server(self, pid: int | None, version: str | None) -> None:
        """The server the supervisor runs now (None: none); a new pid forgets the old one's."""
        if pid is None:
            self._server = None
        elif self._server is None or self._server.pid != pid:
            self._server = _Server(pid, version)
        elif version is not None:
            self._server.version = version

    def sampled(self, pid: int, sample: MemorySample) -> None:
        server = self._for(pid)
        if server is None or sample.rss_bytes <= 0:  # a process on its way out
            return
        if server.sample is None:
            server.oom_kills_at_start = sample.oom_kills
        server.sample = sample
        server.peak_mb = max(server.peak_mb or 0.0, sample.rss_mb)

    def stream_event(self, event: ServerEvent, now: float) -> None:
        self._stream_event_at = now
        if isinstance(event, UpdateAvailable):
            self._update_available = event.version
        session = session_of(event)
        if session is not None and self._server is not None:
            self._server.last_event[session] = now
            self._server.worked = True

    def probe_hung(self, pid: int, started_at: float, now: float) -> None:
        """A probe sent at `started_at` had no answer by `now` (its timeout)."""
        server = self._for(pid)
        went_on = self._stream_event_at is not None and self._stream_event_at > started_at
        if server is not None and went_on:
            server.hang_s = now - started_at

    def binary_on_disk(self, path: str, version: str) -> None:
        """The binary the next start runs reports `version`."""
        self._binary_path = path
        self._binary_version = version

    def update_finished(self, note: str) -> None:
        """How "Update and restart" went, in one line for the status window."""
        self._update_note = note

    def exit_evidence(self, pid: int, oom_kills: int | None) -> OutOfMemory | None:
        """Why a SIGKILL of server `pid` that the app did not send looks like the out-of-memory
        killer's (`oom_kills`: the kernel's count read after the exit), or None."""
        server = self._for(pid)
        if server is None:
            return None
        start = server.oom_kills_at_start
        recorded = oom_kills is not None and start is not None and oom_kills > start
        sample = server.sample
        if not recorded and (sample is None or not self._high(sample)):
            return None
        return OutOfMemory(sample.rss_mb if sample else None, kernel_recorded=recorded)

    # -- what it decides -------------------------------------------------------------------------

    def decide(self, connected: bool, busy: tuple[str, ...], now: float) -> list[RestartServer]:
        """At each health tick: the restart to make now, if any. `busy`: the busy sessions."""
        server = self._server
        if server is not None and not connected:  # events go missing: count afresh after
            server.last_event.clear()
            server.noticed_busy.clear()
        self._stuck = self._stuck_turns(busy, now) if connected else ()
        self._pending = None
        if server is None or not connected:
            return []
        self._weigh_fresh(server, busy)
        if server.restart_asked:
            return []
        cause = self._restart_cause(server, busy, now)
        if cause is None:
            return []
        server.restart_asked = True
        if cause.kind is causes.CauseKind.BINARY_UPDATED:
            self._restarted_onto.add(str(cause.facts["on_disk"]))
        return [RestartServer(server.pid, cause)]

    def status(self) -> HealthStatus:
        server = self._server
        sample = server.sample if server else None
        return HealthStatus(
            memory_mb=round(sample.rss_mb, 1) if sample else None,
            memory_peak_mb=round(server.peak_mb, 1) if server and server.peak_mb else None,
            memory_limit_mb=self.policy.memory_limit_mb,
            stuck=self._stuck,
            update_available=self._update_available,
            binary_version=self._binary_version,
            pending_restart=self._pending,
            update_note=self._update_note,
            memory_limit_too_low_mb=self._limit_too_low(),
        )

    # -- the rules -------------------------------------------------------------------------------

    def _for(self, pid: int) -> _Server | None:
        return self._server if self._server is not None and self._server.pid == pid else None

    def _limit_too_low(self) -> float | None:
        """What a fresh server needs, while the limit is at or below it; else None."""
        limit, needed = self.policy.memory_limit_mb, self._fresh_footprint_mb
        if not limit or needed is None or limit > needed:
            return None
        return round(needed, 1)

    def _weigh_fresh(self, server: _Server, busy: tuple[str, ...]) -> None:
        """While `server` has done no work, its size is what a fresh server needs: over the
        limit, that is recorded; under it, the limit is not too low (any more)."""
        server.worked = server.worked or bool(busy)
        limit, sample = self.policy.memory_limit_mb, server.sample
        if server.worked or not limit or sample is None:
            return
        if sample.rss_mb > limit:
            server.fresh_over = True
            self._fresh_footprint_mb = max(self._fresh_footprint_mb or 0.0, sample.rss_mb)
        elif not server.fresh_over:
            self._fresh_footprint_mb = None

    def _high(self, sample: MemorySample) -> bool:
        limit = self.policy.memory_limit_mb
        if limit and sample.rss_mb > limit and self._limit_too_low() is None:
            return True
        if sample.total_bytes <= 0:
            return False
        return (
            sample.rss_bytes >= HIGH_SHARE_OF_RAM * sample.total_bytes
            or sample.available_bytes <= LOW_AVAILABLE_SHARE * sample.total_bytes
        )

    def _restart_cause(self, server: _Server, busy: tuple[str, ...], now: float) -> Cause | None:
        if server.hang_s is not None:
            return causes.requests_hang(server.hang_s, PROBE_PATH)
        memory = self._memory_cause(server, busy, now)
        if memory is not None:
            return memory
        disk, running = self._binary_version, server.version
        if disk and running and disk != running and disk not in self._restarted_onto:
            cause = causes.binary_updated(running, disk, self._binary_path)
            if busy:
                self._pending = cause
                return None
            return cause
        return None

    def _memory_cause(self, server: _Server, busy: tuple[str, ...], now: float) -> Cause | None:
        limit = self.policy.memory_limit_mb
        sample = server.sample
        if not limit or sample is None or sample.rss_mb <= limit:
            server.over_limit_since = None
            return None
        if not server.worked or self._limit_too_low() is not None:  # a restart would not help
            server.over_limit_since = None
            return None
        if server.over_limit_since is None:
            server.over_limit_since = now
        waited = now - server.over_limit_since
        if not busy:
            return causes.memory_limit(sample.rss_mb, limit)
        if waited >= self.policy.memory_grace_s:
            return causes.memory_limit(sample.rss_mb, limit, waited_s=round(waited))
        self._pending = causes.memory_limit(sample.rss_mb, limit)
        return None

    def _stuck_turns(self, busy: tuple[str, ...], now: float) -> tuple[StuckTurn, ...]:
        server = self._server
        if server is None:
            return ()
        for ended in server.noticed_busy.keys() - set(busy):  # its next turn counts afresh
            server.last_event.pop(ended, None)
        server.noticed_busy = {s: server.noticed_busy.get(s, now) for s in busy}
        stuck = []
        for session in busy:
            since = server.last_event.get(session, server.noticed_busy[session])
            if now - since >= self.policy.stuck_after_s:
                stuck.append(StuckTurn(session, since))
        return tuple(stuck)


@dataclass(frozen=True)
class StuckNotice:
    turn: StuckTurn


@dataclass(frozen=True)
class Unstuck:
    """A session noticed stuck is no longer: its turn went on or ended."""

    session_id: str


@dataclass(frozen=True)
class UpdateNotice:
    version: str


@dataclass(frozen=True)
class MemoryLimitTooLowNotice:
    """The memory limit is at or below what a fresh server needs: no memory restarts."""

    limit_mb: int
    needed_mb: float


Notice = StuckNotice | Unstuck | UpdateNotice | MemoryLimitTooLowNotice


class Notices:
    """One notice per stuck session (again only after it came unstuck, which is said too), one
    per announced version, and one each time the memory limit is found too low (again only
    after it was no longer)."""

    def __init__(self) -> None:
        self._stuck: set[str] = set()
        self._versions: set[str] = set()
        self._limit_too_low = False

    def new(self, health: HealthStatus) -> list[Notice]:
        now_stuck = set(health.stuck_sessions)
        found: list[Notice] = [Unstuck(s) for s in sorted(self._stuck - now_stuck)]
        found += [StuckNotice(turn) for turn in health.stuck if turn.session_id not in self._stuck]
        self._stuck = now_stuck
        version = health.update_available
        if version is not None and version not in self._versions:
            self._versions.add(version)
            found.append(UpdateNotice(version))
        needed = health.memory_limit_too_low_mb
        if needed is not None and not self._limit_too_low:
            found.append(MemoryLimitTooLowNotice(health.memory_limit_mb, needed))
        self._limit_too_low = needed is not None
        return found
