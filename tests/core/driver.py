"""A fake clock for the supervisor: it feeds events, ticks at every deadline and records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tray.core import causes
from tray.core.causes import Cause
from tray.core.messages import (
    Effect,
    Event,
    Exited,
    Listening,
    NotReady,
    OpenStream,
    Ready,
    RestartRequested,
    Spawn,
    Spawned,
    SpawnFailed,
    StartRequested,
    StopRequested,
    StreamClosed,
    StreamEvent,
    StreamOpened,
    Tick,
)
from tray.core.status import State, Status
from tray.core.supervisor import Policy, Supervisor
from tray.generations.v1 import read

URL = "http://127.0.0.1:4096"
VERSION = "1.18.33"
PID = 4242


class Driver:
    """One supervisor at monotonic time `now`; gens follow the last Spawn and OpenStream."""

    def __init__(self, policy: Policy | None = None, rng: float = 0.5, now: float = 0.0) -> None:
        self.rng = rng
        self.sup = Supervisor(policy or Policy(), lambda: self.rng)
        self.now = now
        self.log: list[tuple[float, Effect]] = []
        self.states: list[State] = [self.sup.state()]
        self.proc_gen = 0
        self.stream_gen = 0

    # -- looking ---------------------------------------------------------------------------------

    def state(self) -> State:
        return self.sup.state()

    @property
    def status(self) -> Status:
        return self.sup.status(self.now)

    @property
    def cause(self) -> Cause:
        cause = self.status.cause
        assert cause is not None, "no cause"
        return cause

    def logged(self, kind: type[Any]) -> list[tuple[float, Effect]]:
        return [(at, effect) for at, effect in self.log if isinstance(effect, kind)]

    # -- time ------------------------------------------------------------------------------------

    def send(self, event: Event) -> list[Effect]:
        effects = self.sup.handle(event, self.now)
        for effect in effects:
            self.log.append((self.now, effect))
            if isinstance(effect, Spawn):
                self.proc_gen = effect.gen
            elif isinstance(effect, OpenStream):
                self.stream_gen = effect.gen
        if self.state() is not self.states[-1]:
            self.states.append(self.state())
        return effects

    def tick(self) -> list[Effect]:
        """A Tick now; afterwards no deadline may be due any more, or a timer would spin."""
        effects = self.send(Tick())
        deadline = self.sup.next_deadline()
        assert deadline is None or deadline > self.now, f"deadline {deadline} due after a tick"
        return effects

    def next_tick(self) -> list[Effect]:
        """Jump to the next deadline and tick there."""
        deadline = self.sup.next_deadline()
        assert deadline is not None, "no deadline"
        self.now = max(self.now, deadline)
        return self.tick()

    def advance(self, seconds: float) -> list[Effect]:
        """Let `seconds` pass with no event, ticking at every deadline on the way."""
        target = self.now + seconds
        effects: list[Effect] = []
        while (deadline := self.sup.next_deadline()) is not None and deadline <= target:
            effects += self.next_tick()
        self.now = target
        return effects

    def idle(self, seconds: float, every: float = 10.0) -> list[Effect]:
        """An idle server: a heartbeat and a Tick every `every` seconds."""
        target = self.now + seconds
        effects: list[Effect] = []
        while self.now < target:
            effects += self.advance(min(every, target - self.now)) + self.tick() + self.event()
        return effects

    # -- the user --------------------------------------------------------------------------------

    def start(self) -> list[Effect]:
        return self.send(StartRequested())

    def stop(self) -> list[Effect]:
        return self.send(StopRequested())

    def restart(self) -> list[Effect]:
        return self.send(RestartRequested())

    # -- the process of the last Spawn -----------------------------------------------------------

    def spawned(self, pid: int = PID) -> list[Effect]:
        return self.send(Spawned(self.proc_gen, pid))

    def spawn_failed(self, cause: Cause) -> list[Effect]:
        return self.send(SpawnFailed(self.proc_gen, cause))

    def listening(self, url: str = URL) -> list[Effect]:
        return self.send(Listening(self.proc_gen, url))

    def ready(self, version: str = VERSION) -> list[Effect]:
        return self.send(Ready(self.proc_gen, version))

    def not_ready(self) -> list[Effect]:
        return self.send(NotReady(self.proc_gen, causes.connection_refused(URL)))

    def exited(self, returncode: int = 1, stderr_tail: Sequence[str] = ()) -> list[Effect]:
        return self.send(Exited(self.proc_gen, returncode, tuple(stderr_tail)))

    def boot(self, version: str = VERSION) -> list[Effect]:
        """The pending Spawn comes up: spawned, listening, ready."""
        return self.spawned() + self.listening() + self.ready(version)

    # -- the stream of the last OpenStream -------------------------------------------------------

    def opened(self) -> list[Effect]:
        return self.send(StreamOpened(self.stream_gen))

    def event(
        self,
        type_: str = "server.heartbeat",
        properties: Mapping[str, Any] | None = None,
    ) -> list[Effect]:
        return self.send(StreamEvent(self.stream_gen, read(type_, properties or {})))

    def closed(self, cause: Cause) -> list[Effect]:
        return self.send(StreamClosed(self.stream_gen, cause))

    def connect(self) -> list[Effect]:
        """From a pending Spawn to connected."""
        effects = self.boot() + self.opened()
        assert self.state() is State.CONNECTED
        return effects
