"""The supervisor: a pure state machine that decides what to do with the server and its stream.

`handle(event, now)` takes an event and the current monotonic time and returns the effects the
adapters must carry out; `next_deadline()` says when to call it again with a `Tick`. Nothing
here sleeps, reads a clock or touches a process or socket, so a day of idle, a crash loop or a
heartbeat gap is a fast test.

Two lifecycles run side by side and the public `State` is derived from both: the process
and the event stream (`tray.core.lifecycles`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from tray import generations
from tray.core import causes
from tray.core.backoff import Backoff, CrashLoopBreaker, restart_delay
from tray.core.causes import Cause, CauseKind
from tray.core.lifecycles import Proc, ProcessLife, Stream, StreamLife
from tray.core.messages import (
    CheckReadiness,
    CloseStream,
    Effect,
    Event,
    Exited,
    FromProcess,
    FromStream,
    Listening,
    NotReady,
    OpenStream,
    PasswordPending,
    PasswordReady,
    Ready,
    RestartFor,
    RestartRequested,
    Resync,
    Resynced,
    ResyncFailed,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    StreamClosed,
    StreamEvent,
    StreamOpened,
    Terminate,
    Tick,
)
from tray.core.resume import SessionReport
from tray.core.sessions import SessionActivity
from tray.core.status import Incident, State, Status

HISTORY = 50


@dataclass(frozen=True)
class Policy:
    """The timing rules; all durations in seconds."""

    startup_timeout_s: float = 60.0
    heartbeat_timeout_s: float = 25.0
    reconnect_base_s: float = 0.2
    reconnect_max_s: float = 30.0
    restart_min_s: float = 1.0
    restart_max_s: float = 60.0
    first_restart_at_once: bool = False  # the first restart after a stable period: no backoff
    crash_loop_limit: int = 5
    crash_loop_window_s: float = 300.0
    stable_after_s: float = 60.0
    hung_restart_after_s: float = 60.0
    readiness_retry_s: float = 0.5
    stop_grace_s: float = 5.0
    resync_base_s: float = 1.0
    resync_max_s: float = 30.0


class Supervisor:
    # What the user wants and the restarts across processes.
    _want = False  # the user wants a server
    _failed: Cause | None = None  # gave up, with this cause
    _restart_attempt = 0  # runs across incidents until the server is stable: the backoff's count
    _incident_restarts = 0  # the restarts of the open incident: what the user is told
    _restart_at: float | None = None
    _restarts = 0
    _password_wait: Cause | None = None  # set while no server may start without it

    # What the last resync found.
    _last_gap_s: float | None = None
    _last_worked_in_report: SessionReport | None = None
    _changed_in_gap: tuple[str, ...] = ()

    _incident: Incident | None = None

    def __init__(self, policy: Policy, rng: Callable[[], float]) -> None:
        self._rng = rng
        self._process = ProcessLife()
        self._stream = StreamLife()
        self._breaker = CrashLoopBreaker(policy.crash_loop_limit, policy.crash_loop_window_s)
        self.set_policy(policy)
        self.sessions = SessionActivity()
        self._history: deque[Incident] = deque(maxlen=HISTORY)

    # -- the public face -------------------------------------------------------------------------

    def set_policy(self, policy: Policy) -> None:
        """New timing rules take effect at the next deadline; crashes counted so far still count."""
        self.policy = policy
        self._restart_backoff = Backoff(policy.restart_min_s, policy.restart_max_s)
        self._reconnect_backoff = Backoff(policy.reconnect_base_s, policy.reconnect_max_s)
        self._resync_backoff = Backoff(policy.resync_base_s, policy.resync_max_s)
        self._breaker.limit = policy.crash_loop_limit
        self._breaker.window_s = policy.crash_loop_window_s

    def handle(self, event: Event, now: float) -> list[Effect]:
        if isinstance(event, FromProcess | FromStream):
            return self._on_adapter_event(event, now) if self._current(event) else []
        match event:
            case StartRequested():
                return self._on_start(now)
            case StopRequested():
                return self._on_stop(now)
            case RestartRequested():
                return self._on_restart(now)
            case Tick():
                return self._on_tick(now)
            case RestartFor():
                return self._on_restart_for(event, now)
            case PasswordPending():
                self._password_wait = causes.keyring_waiting(event.timeout_s)
            case PasswordReady():
                return self._on_password_ready(now)
            case Resynced():
                self._on_resynced(event)
            case ResyncFailed():
                self._on_resync_failed(event, now)
        return []

    def _on_adapter_event(self, event: Event, now: float) -> list[Effect]:
        """An event from the process or connection we have now."""
        match event:
            case SpawnFailed():
                return self._on_exited(event.cause, now)
            case Spawned():
                # The server's time to start counts from its process: the engine may first have
                # waited for the front door to take the public port, or a leftover to stop.
                self._process.pid = event.pid
                self._process.spawned_at = now
            case Listening():
                return self._on_listening(event.url)
            case Ready():
                return self._on_ready(event.version, now)
            case NotReady():
                return self._on_not_ready(event.cause, now)
            case Exited():
                return self._on_exited(
                    causes.process_exited(event.returncode, event.stderr_tail, event.oom), now
                )
            case StreamOpened():
                return self._on_stream_opened(now)
            case StreamEvent():
                return self._on_stream_event(event, now)
            case StreamClosed():
                return self._on_stream_closed(event.cause, now)
        return []

    def state(self) -> State:
        if not self._want:
            return State.STOPPED
        if self._failed is not None:
            return State.FAILED
        stream = self._stream
        if self._process.phase is Proc.READY:
            if stream.up:
                return State.CONNECTED
            if stream.stalled_since is not None:
                return State.STALLED
            return State.RECONNECTING if stream.reconnect_attempt else State.STARTING
        if self._process.starting:
            return State.STARTING
        return State.CRASHED if self._restart_at is not None else State.STARTING

    def next_deadline(self) -> float | None:
        """When the supervisor next needs a `Tick`, or None when only an event can change things."""
        p, process, stream = self.policy, self._process, self._stream
        deadlines = [self._restart_at, process.readiness_retry_at]
        if process.starting:
            deadlines.append(process.spawned_at + p.startup_timeout_s)
        if process.phase is Proc.READY:
            deadlines.append(stream.reconnect_at)
            if stream.unreachable_since is not None:
                deadlines.append(stream.unreachable_since + p.hung_restart_after_s)
        if not stream.down:
            deadlines.append(stream.activity_at + p.heartbeat_timeout_s)
        if stream.up:
            deadlines.append(stream.resync_at)
        if stream.up and self._restart_attempt and stream.connected_at is not None:
            deadlines.append(stream.connected_at + p.stable_after_s)
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def status(self, now: float) -> Status:
        state = self.state()
        incidents = (*self._history, self._incident) if self._incident else tuple(self._history)
        if state is State.FAILED:
            cause = self._failed
        elif self._incident is not None:
            cause = self._incident.cause
        else:  # a start held back for the password says why
            waiting = state is State.STARTING and self._process.phase is Proc.ABSENT
            cause = self._password_wait if waiting else None
        if state is State.CRASHED:
            attempt, retry_at = self._incident_restarts, self._restart_at
        elif state in (State.RECONNECTING, State.STALLED):
            attempt, retry_at = self._stream.reconnect_attempt, self._stream.reconnect_at
        else:
            attempt, retry_at = 0, None
        return Status(
            now=now,
            state=state,
            cause=cause,
            attempt=attempt,
            next_retry_at=retry_at,
            pid=self._process.pid,
            url=self._process.url,
            version=self._process.version,
            ready_at=self._process.ready_at,
            last_event_at=self._stream.last_event_at,
            restarts=self._restarts,
            incidents=incidents,
            busy_sessions=self.sessions.busy,
            last_worked_in=self.sessions.last_worked_in,
            last_gap_s=self._last_gap_s,
            changed_in_gap=self._changed_in_gap,
            last_worked_in_report=self._last_worked_in_report,
        )

    # -- user requests ---------------------------------------------------------------------------

    def _on_start(self, now: float) -> list[Effect]:
        if self._want and self._failed is None:
            return []
        self._want = True
        self._reset_retries()
        if self._process.phase is Proc.ABSENT:
            return self._spawn(now)
        self._process.respawn_after_exit = self._process.phase is Proc.STOPPING
        return []

    def _on_stop(self, now: float) -> list[Effect]:
        self._want = False
        self._reset_retries()
        if self._incident is not None:
            self._close_incident(now, recovered=False)
        return self._close_stream(now) + self._terminate(respawn=False)

    def _on_restart(self, now: float) -> list[Effect]:
        self._want = True
        self._reset_retries()
        effects = self._close_stream(now)
        if self._process.phase is Proc.ABSENT:
            return effects + self._spawn(now)
        return effects + self._terminate(respawn=True)

    def _on_restart_for(self, event: RestartFor, now: float) -> list[Effect]:
        process = self._process
        if process.pid != event.pid or process.phase is not Proc.READY or not self._want:
            return []  # decided about a server that is gone, or no longer wanted
        if event.cause.kind is CauseKind.REQUESTS_HANG:
            return self._crashed(event.cause, now, terminate=True)
        self._open_incident(event.cause, now)
        self._restarts += 1
        return self._close_stream(now) + self._terminate(respawn=True)

    def _reset_retries(self) -> None:
        self._failed = None
        self._breaker.reset()
        self._restart_attempt = 0
        self._restart_at = None
        self._process.readiness_retry_at = None
        self._stream.reset()

    def _on_resynced(self, event: Resynced) -> None:
        self._last_gap_s = event.gap_s
        self._changed_in_gap = event.changed_sessions
        self._last_worked_in_report = event.session
        self.sessions.replace_busy(event.busy_sessions)
        self._stream.resync_at = None

    def _on_resync_failed(self, event: ResyncFailed, now: float) -> None:
        if self._stream.up:  # a resync ends with its connection
            self._stream.resync_attempt = event.attempt
            self._stream.resync_at = now + self._resync_backoff.delay(event.attempt, self._rng)

    # -- the process -----------------------------------------------------------------------------

    def _current(self, event: Event) -> bool:
        """Whether an adapter event belongs to the process or connection we have now."""
        if isinstance(event, FromStream):
            return event.gen == self._stream.gen and not self._stream.down
        if isinstance(event, FromProcess):
            return event.gen == self._process.gen and self._process.phase is not Proc.ABSENT
        return False

    def _on_password_ready(self, now: float) -> list[Effect]:
        self._password_wait = None
        held_back = self._want and self._failed is None and self._restart_at is None
        return self._spawn(now) if held_back and self._process.phase is Proc.ABSENT else []

    def _spawn(self, now: float) -> list[Effect]:
        if self._password_wait is not None:
            return []  # `PasswordReady` starts it
        self._restart_at = None
        self._stream.reset()
        return [Spawn(self._process.spawn(now))]

    def _terminate(self, respawn: bool) -> list[Effect]:
        process = self._process
        if process.phase is Proc.ABSENT:
            return []
        process.respawn_after_exit = respawn
        if process.phase is Proc.STOPPING:
            return []
        process.phase = Proc.STOPPING
        process.readiness_retry_at = None
        return [Terminate(process.gen, self.policy.stop_grace_s)]

    def _on_listening(self, url: str) -> list[Effect]:
        process = self._process
        if process.phase is not Proc.SPAWNING:
            return []
        process.phase = Proc.LISTENING
        process.url = url
        return [CheckReadiness(process.gen)]

    def _on_ready(self, version: str, now: float) -> list[Effect]:
        process = self._process
        if process.phase is not Proc.LISTENING:
            return []
        process.version = version
        if generations.for_version(version) is None:
            return self._give_up(causes.unsupported_version(version, generations.SUPPORTED), now)
        process.phase = Proc.READY
        process.ready_at = now
        process.readiness_retry_at = None
        return self._open_stream(now)

    def _on_not_ready(self, cause: Cause, now: float) -> list[Effect]:
        process = self._process
        if process.phase is Proc.LISTENING and cause.kind is CauseKind.WRONG_PASSWORD:
            return self._crashed(cause, now, terminate=True)
        if process.phase is Proc.LISTENING:
            process.readiness_retry_at = now + self.policy.readiness_retry_s
            process.last_readiness = cause
        return []

    def _on_exited(self, cause: Cause, now: float) -> list[Effect]:
        """The process is gone: it exited or could not be started; `cause` if unexpected."""
        if self._process.exited() is Proc.STOPPING:
            if self._process.respawn_after_exit and self._want and self._failed is None:
                return self._spawn(now)
            return []
        return self._crashed(cause, now, terminate=False)

    def _crashed(self, cause: Cause, now: float, terminate: bool) -> list[Effect]:
        """The server died or must die: restart it after a backoff, or give up."""
        effects = self._close_stream(now)
        self._open_incident(cause, now)
        self._stream.reset()
        self._process.readiness_retry_at = None
        if cause.is_fatal:
            return effects + self._give_up(cause, now)
        if self._breaker.record(now):
            last = causes.crash_loop(self._breaker.count(), self._breaker.window_s, cause)
            return effects + self._give_up(last, now)
        self._restart_attempt += 1
        self._incident_restarts += 1
        self._restart_at = now + restart_delay(
            self._restart_backoff,
            self._restart_attempt,
            self._rng,
            self.policy.first_restart_at_once,
        )
        if terminate:
            effects += self._terminate(respawn=False)
        return effects

    def _give_up(self, cause: Cause, now: float) -> list[Effect]:
        self._failed = cause
        self._open_incident(cause, now)
        self._restart_at = self._process.readiness_retry_at = None
        self._stream.reset()
        return self._close_stream(now) + self._terminate(respawn=False)

    # -- the stream ------------------------------------------------------------------------------

    def _open_stream(self, now: float) -> list[Effect]:
        return [OpenStream(self._stream.open(now))]

    def _close_stream(self, now: float) -> list[Effect]:
        if self._stream.down:
            return []
        self._stream.mark_down(now)
        return [CloseStream(self._stream.gen)]

    def _schedule_reconnect(self, now: float) -> None:
        stream = self._stream
        stream.reconnect_attempt += 1
        delay = self._reconnect_backoff.delay(stream.reconnect_attempt, self._rng)
        stream.reconnect_at = now + delay

    def _on_stream_opened(self, now: float) -> list[Effect]:
        stream = self._stream
        if stream.up:
            stream.heard(now)
            return []
        stream.phase = Stream.UP
        stream.heard(now)
        stream.connected_at = now
        stream.reset()
        gap = None if stream.down_since is None else now - stream.down_since
        stream.down_since = None
        if self._incident is not None:
            self._close_incident(now, recovered=True)
        stream.resync_gap, stream.resync_at = gap, None
        return [self._resync(1)]

    def _resync(self, attempt: int) -> Resync:
        self.sessions.snapshot_asked()
        return Resync(self._stream.resync_gap, attempt)

    def _on_stream_event(self, event: StreamEvent, now: float) -> list[Effect]:
        effects = self._on_stream_opened(now) if self._stream.phase is Stream.CONNECTING else []
        self._stream.heard(now)
        self.sessions.observe(event.event)
        return effects

    def _on_stream_closed(self, cause: Cause, now: float) -> list[Effect]:
        stream = self._stream
        stream.mark_down(now)
        if stream.unreachable_since is None:
            stream.unreachable_since = now
        if cause.kind is CauseKind.WRONG_PASSWORD:
            return self._crashed(cause, now, terminate=True)
        self._open_incident(cause, now)
        self._schedule_reconnect(now)
        return []

    # -- time ------------------------------------------------------------------------------------

    def _on_tick(self, now: float) -> list[Effect]:
        stream = self._stream
        effects = self._tick_restart(now) + self._tick_start(now) + self._tick_heartbeat(now)
        if self._process.phase is Proc.READY:
            effects += self._tick_ready(now)
        if stream.up and stream.resync_at is not None and now >= stream.resync_at:
            stream.resync_at = None
            effects.append(self._resync(stream.resync_attempt + 1))
        stable_since = stream.connected_at if stream.up else None
        if stable_since is not None and now - stable_since >= self.policy.stable_after_s:
            self._restart_attempt = 0
        return effects

    def _tick_restart(self, now: float) -> list[Effect]:
        if self._restart_at is None or now < self._restart_at:
            return []
        self._restart_at = None
        self._restarts += 1
        if self._process.phase is Proc.ABSENT:
            return self._spawn(now)
        self._process.respawn_after_exit = True
        return []

    def _tick_start(self, now: float) -> list[Effect]:
        process = self._process
        if not process.starting:
            return []
        timeout = self.policy.startup_timeout_s
        if now - process.spawned_at >= timeout:
            cause = causes.startup_timeout(timeout, process.last_readiness)
            return self._crashed(cause, now, terminate=True)
        if process.readiness_retry_at is not None and now >= process.readiness_retry_at:
            process.readiness_retry_at = None
            return [CheckReadiness(process.gen)]
        return []

    def _tick_heartbeat(self, now: float) -> list[Effect]:
        """Silence past the heartbeat timeout: the stream is stalled; events were lost since the
        last one, not since now."""
        stream = self._stream
        if stream.down or now - stream.activity_at < self.policy.heartbeat_timeout_s:
            return []
        silent = now - stream.activity_at
        if stream.stalled_since is None:
            stream.stalled_since = stream.activity_at
        if stream.down_since is None:
            stream.down_since = stream.activity_at
        if stream.unreachable_since is None:
            stream.unreachable_since = stream.activity_at
        effects = self._close_stream(now)
        self._open_incident(causes.heartbeat_missed(silent), now)
        self._schedule_reconnect(now)
        return effects

    def _tick_ready(self, now: float) -> list[Effect]:
        """A ready server unreachable for too long is hung; otherwise reconnect when it is time."""
        stream = self._stream
        unreachable = stream.unreachable_since
        if unreachable is not None and now - unreachable >= self.policy.hung_restart_after_s:
            last = self._incident.cause if self._incident else None
            return self._crashed(causes.server_hung(now - unreachable, last), now, terminate=True)
        reconnect_at = stream.reconnect_at
        if stream.down and reconnect_at is not None and now >= reconnect_at:
            return self._open_stream(now)
        return []

    # -- incidents -------------------------------------------------------------------------------

    def _open_incident(self, cause: Cause, now: float) -> None:
        if self._incident is None:
            self._incident = Incident(opened_at=now, cause=cause)
            self._incident_restarts = 0
        elif cause.weight >= self._incident.cause.weight:
            self._incident = replace(self._incident, cause=cause)

    def _close_incident(self, now: float, recovered: bool) -> None:
        assert self._incident is not None
        self._history.append(replace(self._incident, closed_at=now, recovered=recovered))
        self._incident = None
