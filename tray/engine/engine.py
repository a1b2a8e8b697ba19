"""The engine: runs the supervisor on asyncio and carries out its effects.

Data flows one way: the process and stream adapters report events, the supervisor decides, the
engine executes the effects and pushes an `EngineSnapshot` to its subscribers (the UI, the command
line). Nothing here knows about Qt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import Any

import httpx

from tray.core import causes
from tray.core.causes import Cause
from tray.core.door.phases import Credentials, Upstream
from tray.core.messages import (
    CheckReadiness,
    CloseStream,
    Effect,
    Event,
    Exited,
    Listening,
    NotReady,
    OpenStream,
    PasswordPending,
    PasswordReady,
    Ready,
    RestartRequested,
    Resync,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    StreamEvent,
    Terminate,
    Tick,
)
from tray.core.resume import SessionReport, apply_session_event
from tray.core.settings import Settings
from tray.core.snapshot import EngineSnapshot
from tray.core.status import State, Status
from tray.core.supervisor import Policy, Supervisor
from tray.engine import binary, ports
from tray.engine.api import ApiError, CurrentCredentials, ServerApi, make_client
from tray.engine.launch import ServerLaunch
from tray.engine.leftover import RecordFile, stop_leftover
from tray.engine.passwords import Passwords
from tray.engine.placement import Placement
from tray.engine.process import ServerProcess
from tray.engine.resync import resync
from tray.engine.server_health import HealthMonitor
from tray.engine.server_password import ServerPassword
from tray.engine.stream import read_events
from tray.generations.events import SessionSummary
from tray.generations.v1 import V1
from tray.runtime.tasks import Tasks

# A server that just died (a leftover, or ours killed from outside) can hold its port a moment
# longer than it looks alive: its threads are still exiting.
PORT_RELEASE_S = 0.5

log = logging.getLogger(__name__)


def _task_failed(error: BaseException, name: str) -> None:
    log.error("engine task %s failed", name, exc_info=error)


class Engine:
    def __init__(self, launch: ServerLaunch, rng: Callable[[], float] = random.random) -> None:
        self._fixed = launch  # its settings, password and public URL: those of the start
        self._settings = launch.settings  # in effect
        self._passwords = Passwords(launch.password)
        self._placement = Placement(launch.public_url)
        self._loop = asyncio.get_running_loop()
        self._supervisor = Supervisor(self._policy(), rng)
        self._records = RecordFile(launch.state_dir / "server.json")
        self._subscribers: list[Callable[[EngineSnapshot], None]] = []
        self._timer: asyncio.Handle | None = None  # qasync's timers are plain Handles
        self._timer_at = 0.0  # when the armed timer fires
        self._tasks = Tasks(self._loop, _task_failed)
        self._process_tasks: dict[int, asyncio.Task[None]] = {}
        self._processes: dict[int, ServerProcess] = {}
        self._stream_tasks: dict[int, asyncio.Task[None]] = {}
        self._api: ServerApi | None = None
        self._published: tuple[Status, Settings, int] | None = None
        self._started_with: Settings | None = None  # the settings of the last server spawned
        # The server's sessions, newest first, as of the last resync and the events since.
        self._recent: tuple[SessionSummary, ...] = ()
        self._resync_task: asyncio.Task[None] | None = None
        self._resync_gen = 0  # the stream connection whose resync runs
        self._closed = False
        self._health = HealthMonitor(
            launch.settings.health_policy(),
            status=self.status,
            dispatch=self.dispatch,
            client=lambda: self._api.client if self._api is not None else None,
            start=self._run,
            publish=self._publish,
            oom_record_path=launch.oom_record,
        )
        self._run(self._health.run(), "health")

    @property
    def launch(self) -> ServerLaunch:
        """How the server runs now: the settings in effect, the public password and URL."""
        return replace(
            self._fixed,
            settings=self._settings,
            password=self._passwords.public,
            public_url=self._placement.public_url,
        )

    # -- what the UI and the command line use ---------------------------------------------------

    def subscribe(self, callback: Callable[[EngineSnapshot], None]) -> None:
        """`callback` gets each new snapshot (not the one of now: `snapshot()`)."""
        self._subscribers.append(callback)

    def snapshot(self) -> EngineSnapshot:
        """The engine now, as it pushes it."""
        launch = self.launch
        return EngineSnapshot(
            status=self.status(),
            settings=launch.settings,
            public_url=launch.public_url,
            credentials=Credentials(*launch.credentials()),
            credential_generation=self._passwords.generation,
            upstream=self._upstream(),
            recent_sessions=self._recent,
        )

    def settings(self) -> Settings:
        """The settings in effect."""
        return self._settings

    def client_env(self) -> dict[str, str]:
        """The environment for a client of the server (`opencode attach`): the user's, with
        the password it signs in with."""
        return self.launch.env()

    def status(self) -> Status:
        status = replace(self._supervisor.status(self._loop.time()), health=self._health.status())
        public = self._placement.public_url
        if public is None or status.url is None:
            return replace(status, upstream_url=status.url)
        return replace(status, url=public, upstream_url=status.url)

    def _upstream(self) -> Upstream | None:
        """The private server a front door forwards to (with its per-start password), while
        one is listening; None without a front door."""
        url = self._supervisor.status(self._loop.time()).url
        private = self._passwords.private
        if not self._placement.behind_door or url is None or private is None:
            return None
        return Upstream(url, private)

    def place_later(self) -> None:
        """A front door is about to take the public port: a start asked for meanwhile shows as
        starting at once, and spawns once `serve_behind` or `serve_directly` says where."""
        self._placement.later()

    def serve_behind(self, public_url: str) -> None:
        """From the next start on, run the server behind the front door at `public_url`."""
        self._placement.behind(public_url)
        self._supervisor.set_policy(self._policy())

    def serve_directly(self) -> None:
        """No front door (after all, or any more): from the next start on, the server listens
        on the public port itself."""
        self._placement.directly()
        self._supervisor.set_policy(self._policy())

    def place_each_start(self, place: Callable[[Settings], Awaitable[None]]) -> None:
        """`place(settings)` runs before each spawn, the old server gone: a front door follows
        a changed port or front-door setting there, with `serve_behind` or `serve_directly`."""
        self._placement.each_start(place)

    async def clear_leftover(self) -> None:
        """Stop a server a crashed earlier run left, and let its port go. Each spawn does; a
        front door does before it takes the public port, which a server left by a run without
        the door (one that outlived its app, as on macOS, where no signal follows a parent's
        death) holds."""
        if await stop_leftover(self._records, self._settings.stop_grace_s):
            await ports.wait_free(self._settings.port, PORT_RELEASE_S)

    def _policy(self) -> Policy:
        """Behind a front door clients wait for a restart: the first one goes at once."""
        policy = self._settings.policy()
        return replace(policy, first_restart_at_once=self._placement.behind_door)

    def wall_time(self, monotonic: float) -> float:
        """A monotonic time from a `Status` as seconds since the epoch."""
        return time.time() - (self._loop.time() - monotonic)

    def output_tail(self, lines: int = 200) -> tuple[str, ...]:
        """The running (or last) server's last output lines."""
        newest = max(self._processes, default=None)
        return () if newest is None else self._processes[newest].output_tail(lines)

    def server_settings(self) -> Settings:
        """The settings the running (or last) server was started with; before the first start,
        the current ones."""
        return self._started_with or self._settings

    def binary(self) -> str | Cause:
        """The opencode binary this engine runs, or why there is none."""
        return binary.locate(self._fixed.binary_override or self._settings.opencode_path)

    async def session_report(self, session_id: str) -> SessionReport:
        """What state a session is in now; raises ApiError when the server cannot say."""
        return await self._require_api().session_report(session_id)

    async def continue_session(self, session_id: str, text: str = "continue") -> None:
        """Send `text` to a session (the user clicked Continue on an interrupted one)."""
        log.info("continuing session %s", session_id)
        await self._require_api().prompt_async(session_id, text)

    def _require_api(self) -> ServerApi:
        status = self.status()
        if self._api is None or status.state not in (State.CONNECTED, State.RECONNECTING):
            raise ApiError(causes.connection_refused(status.url or "the server (not running)"))
        return self._api

    def apply_settings(self, settings: Settings) -> bool:
        """Take new settings; True when they need a server restart to take full effect."""
        needs_restart = settings.needs_restart(self._settings)
        username = self.launch.username()
        self._settings = settings
        if self.launch.username() != username:
            self._passwords.renamed()
        self._supervisor.set_policy(self._policy())
        self._health.set_policy(settings.health_policy())
        self._schedule_tick()
        self._publish()
        return needs_restart

    async def abort_session(self, session_id: str) -> None:
        """End a session's turn (the user clicked Abort on a stuck one)."""
        log.info("aborting the turn of session %s", session_id)
        await self._require_api().abort(session_id)

    async def update_server(self, version: str) -> None:
        """Run opencode's own update to `version` (the user clicked Update and restart); the
        server is restarted onto the new binary when no session is busy."""
        found = self.binary()
        if isinstance(found, Cause):
            self._health.watch.update_finished(f"update to {version} failed: {found.text}")
            self._publish()
            return
        await self._health.update(version, found, self.launch.update_env())

    def wait_for_password(self, timeout_s: float) -> None:
        """Hold server starts back until `set_password` (the keyring is being asked; the caller
        gives up on it after `timeout_s` and sets a per-run password)."""
        self.dispatch(PasswordPending(timeout_s))

    def set_password(self, password: ServerPassword, *, restart: bool = True) -> None:
        """Use a new server password; a start held back for it (`wait_for_password`) goes ahead.

        With `restart` (say, after `password.rotate()`) every request sends it from now on, and a
        running server is restarted so that it expects it (and forgets the old). Without, a
        running server, and the requests to it, keep the password it was started with until it
        next starts (behind a front door too: clients given the old one keep working)."""
        behind_door = self._placement.behind_door  # the server has its own password
        self._passwords.use(password, now=restart or self.status().pid is None)
        self.dispatch(PasswordReady())
        if (
            restart
            and not behind_door
            and self._supervisor.state() not in (State.STOPPED, State.FAILED)
        ):
            self.restart()

    def start(self) -> None:
        self.dispatch(StartRequested())

    def stop(self) -> None:
        self.dispatch(StopRequested())

    def restart(self) -> None:
        self.dispatch(RestartRequested())

    async def shutdown(self) -> None:
        """Stop the server, wait until it is gone, and end every task."""
        self.dispatch(StopRequested())
        grace = self._settings.stop_grace_s
        running = list(self._process_tasks.values())
        if running:  # their Exited events still reach the supervisor
            await asyncio.wait(running, timeout=grace + 5)
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        await self._tasks.cancel()
        if self._api is not None:
            await self._api.client.aclose()

    # -- the loop: event -> supervisor -> effects ------------------------------------------------

    def dispatch(self, event: Event) -> None:
        if self._closed:
            return
        if isinstance(event, StreamEvent):
            self._recent = apply_session_event(self._recent, event.event)
            self._health.watch.stream_event(event.event, self._loop.time())
        effects = self._supervisor.handle(event, self._loop.time())
        for effect in effects:
            self._execute(effect)
        self._schedule_tick()
        self._publish()

    def _schedule_tick(self) -> None:
        """Arm the timer for the supervisor's next deadline.

        Every stream event moves the heartbeat deadline later; a timer that is already set to fire
        no later than needed is kept (the supervisor re-checks at each Tick and nothing is due yet,
        then the next deadline is armed), so a burst of events does not re-arm it each time."""
        deadline = self._supervisor.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer_at <= deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._tick)
            self._timer_at = deadline

    def _tick(self) -> None:
        self._timer = None
        self.dispatch(Tick())

    def _publish(self) -> None:
        snapshot = self.snapshot()
        self._health.follow(snapshot.status)
        news = snapshot.news()
        if news == self._published:
            return
        self._published = news
        for callback in self._subscribers:
            callback(snapshot)

    def _execute(self, effect: Effect) -> None:
        match effect:
            case Spawn(gen):
                self._process_tasks[gen] = self._run(self._run_process(gen), f"server {gen}")
            case Terminate(gen, grace_s):
                self._run(self._terminate(gen, grace_s), f"terminate {gen}")
            case CheckReadiness(gen):
                self._run(self._check_readiness(gen), f"readiness {gen}")
            case OpenStream(gen):
                if self._api is not None:
                    coro = self._stream(self._api.client, gen)
                    self._stream_tasks[gen] = self._run(coro, f"stream {gen}")
            case CloseStream(gen):
                for task in (self._stream_tasks.pop(gen, None), self._resync_task):
                    if task is not None:
                        task.cancel()  # a resync belongs to the connection that asked for it
            case Resync(gap_s, attempt):
                self._resync_task = self._run(self._resync(gap_s, attempt), "resync")
                self._resync_gen = max(self._stream_tasks, default=0)

    def _run(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return self._tasks.start(coro, name)

    # -- the effects ----------------------------------------------------------------------------

    async def _run_process(self, gen: int) -> None:
        try:
            process = await self._spawn(gen)
        except asyncio.CancelledError:  # stopped before the server was started
            self.dispatch(Exited(gen, 0))
            raise
        if process is None:
            return
        self._processes = {gen: process}
        try:
            self._records.write(process.pid)
            self.dispatch(Spawned(gen, process.pid))
            code = await process.wait()
        finally:
            self._records.clear()
        log.info("server (pid %d) exited with %d", process.pid, code)
        self._process_tasks.pop(gen, None)
        oom = self._health.exit_evidence(process.pid, code)
        self.dispatch(Exited(gen, code, process.stderr_tail(), oom))

    async def _spawn(self, gen: int) -> ServerProcess | None:
        await self._placement.settle(self.settings)
        self._passwords.next_start()
        launch = self.launch
        self._started_with = launch.settings
        found = self.binary()
        if isinstance(found, Cause):
            self.dispatch(SpawnFailed(gen, found))
            return None
        await self.clear_leftover()
        env = launch.env()
        if self._placement.behind_door:
            private = self._passwords.new_private(launch.username())
            env[V1.password_env] = private.password
        port = self._placement.port(launch.settings)
        if port and not await ports.wait_free(port, PORT_RELEASE_S):
            self.dispatch(SpawnFailed(gen, causes.port_in_use(port, ports.owner(port))))
            return None
        self._health.binary_started(found)
        try:
            return await ServerProcess.spawn(
                found, port, launch.cwd(), env, lambda url: self._listening(gen, url)
            )
        except OSError as error:
            self.dispatch(SpawnFailed(gen, causes.spawn_failed(found, str(error))))
            return None

    def _listening(self, gen: int, url: str) -> None:
        base = self._fixed.client_url or url
        if self._api is None or str(self._api.client.base_url).rstrip("/") != base.rstrip("/"):
            if self._api is not None:
                self._run(self._api.client.aclose(), "close client")
            client = make_client(base, CurrentCredentials(self._credentials))
            self._api = ServerApi(client)
        self.dispatch(Listening(gen, url))

    def _credentials(self) -> tuple[str, str]:
        """Read at each request, so a new password needs no new client."""
        private = self._passwords.private
        if self._placement.behind_door and private is not None:
            return private.username, private.password
        return self.launch.credentials()

    async def _terminate(self, gen: int, grace_s: float) -> None:
        process = self._processes.get(gen)
        if process is not None:
            await process.terminate(grace_s)
            return
        task = self._process_tasks.get(gen)
        if task is not None:  # still looking for the binary or the port
            task.cancel()

    async def _stream(self, client: httpx.AsyncClient, gen: int) -> None:
        """Read connection `gen`; a resync it asked for ends with it, however it ends (a server
        killed mid-resync must not be asked again and again while its successor starts)."""
        try:
            await read_events(client, gen, self.dispatch)
        finally:
            self._stream_tasks.pop(gen, None)
            if self._resync_gen == gen and self._resync_task is not None:
                self._resync_task.cancel()

    async def _check_readiness(self, gen: int) -> None:
        if self._api is None:
            return
        try:
            version = await self._api.health()
        except ApiError as error:
            self.dispatch(NotReady(gen, error.cause))
            return
        self.dispatch(Ready(gen, version))

    async def _resync(self, gap_s: float | None, attempt: int) -> None:
        if self._api is None:
            return
        sessions = self._supervisor.sessions
        asked = resync(
            self._api, gap_s, attempt, self._sessions_listed, lambda: sessions.last_worked_in
        )
        self.dispatch(await asked)

    def _sessions_listed(self, recent: tuple[SessionSummary, ...]) -> None:
        self._recent = recent
