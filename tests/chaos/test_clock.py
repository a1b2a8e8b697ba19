"""The clocks misbehave: the machine sleeps (the wall clock jumps ahead, the monotonic one does
not move) and the wall clock is set back. Notifications follow the app's wake detector; the
engine's timers run on the monotonic clock and are not fooled by the wall clock."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.chaos.helpers import Sessions, chaos_run, notices
from tests.core.test_notify_policy import Run
from tests.engine.helpers import START_S, LaunchFactory
from tray.core import causes
from tray.core.messages import StartRequested, StreamClosed, Tick
from tray.core.notify_policy import RECOVERED_TITLE, ShowNotice, incident_key
from tray.core.settings import Settings
from tray.core.status import State
from tray.core.wake import WakeDetector
from tray.engine.notices import WAKE_CHECK_S

pytestmark = pytest.mark.chaos

DAY_S = 86400.0
EPOCH = 1_790_000_000.0


class Machine(Run):
    """`Run` (the supervisor and the notification policy on a fake clock) with a wall clock
    beside the monotonic one, and the app's wake detector looking at both every
    `WAKE_CHECK_S` seconds of monotonic time."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.wall = EPOCH
        self.wake = WakeDetector(self.now, self.wall)
        self.wake_check_at = WAKE_CHECK_S
        self.wakes = 0

    def ask(self) -> None:
        status = self.sup.status(self.now)
        decision = self.policy.decide(status, self.settings, self.now, self.wake.woke_at)
        self.log += [(self.now, action) for action in decision.actions]
        self.check_at = decision.next_check_at

    def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while True:
            deadlines = (self.sup.next_deadline(), self.check_at, self.wake_check_at)
            due = min(d for d in deadlines if d is not None)
            if due > target:
                break
            self.wall += due - self.now
            self.now = due
            if due >= self.wake_check_at:
                self.wakes += self.wake.check(self.now, self.wall)
                self.wake_check_at = self.now + WAKE_CHECK_S
            self.send(Tick())
        self.wall += target - self.now
        self.now = target

    def suspend(self, seconds: float) -> None:
        """The machine sleeps: the wall clock goes on, the monotonic clock stands still."""
        self.wall += seconds

    def until_wake_check(self, before: float) -> None:
        """Idle until `before` seconds ahead of the wake detector's next look."""
        self.advance(self.wake_check_at - before - self.now)


def test_a_day_with_sleeps_and_clock_changes_shows_only_the_real_crash() -> None:
    """24 hours of idle; six times the machine sleeps half an hour and wakes with its stream
    broken for 7 s (longer than the grace period: shown, were it not for the wake); once the
    wall clock is set back an hour; once, far from any sleep, the server really crashes."""
    machine = Machine(Settings())
    machine.send(StartRequested())
    machine.boot()
    machine.connect()
    crashed_at = None
    for hour in range(24):
        machine.idle(3600 - 60)
        if hour % 4 == 3:
            machine.until_wake_check(before=1.0)
            machine.suspend(1800)
            machine.send(StreamClosed(machine.stream_gen, causes.stream_broken("ReadError")))
            machine.advance(7)
            machine.connect()
        elif hour == 12:
            machine.wall -= 3600  # NTP, or the user: not a wake
        elif hour == 18:
            crashed_at = machine.now
            machine.crash()
            machine.advance(8)
            machine.boot()
            machine.connect()
        machine.idle(60)
    assert machine.now >= DAY_S
    assert machine.wakes == 6
    status = machine.sup.status(machine.now)
    assert status.state is State.CONNECTED
    assert status.restarts == 1
    assert len(status.incidents) == 7
    assert all(incident.recovered for incident in status.incidents)
    crash = next(i for i in status.incidents if i.opened_at == crashed_at)
    keys = {a.notice.key for _, a in machine.log if isinstance(a, ShowNotice)}
    assert keys == {incident_key(crash)}
    assert isinstance(machine.log[-1][1], ShowNotice)
    assert machine.log[-1][1].notice.title == RECOVERED_TITLE


@pytest.mark.server
@pytest.mark.timeout(300)  # three server starts, slow on a busy machine
async def test_wall_clock_jumps_fool_neither_the_engine_nor_the_notifications(
    make_launch: LaunchFactory, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wall clock is set back two hours (not a wake: the crash after it is shown), then
    jumps three hours ahead as after a night asleep (a wake: the crash right after it is not).
    Recovery takes its usual time both times, and every duration is monotonic."""
    real_time = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])
    async with chaos_run(make_launch(), caplog) as harness:
        status = await harness.connected()
        sessions = Sessions.of(harness)
        before = await sessions.create()
        detector = WakeDetector(time.monotonic(), time.time())
        for jump, woke in ((-7200.0, False), (3 * 3600.0, True)):
            offset[0] += jump
            assert detector.check(time.monotonic(), time.time()) is woke
            assert harness.engine.status().state is State.CONNECTED
            assert status.pid is not None
            os.kill(status.pid, signal.SIGKILL)
            status = await harness.connected_to_a_new_server(status)
        incidents = status.incidents
        assert [i.cause.kind for i in incidents] == [causes.CauseKind.KILLED_BY_SIGNAL] * 2
        # Monotonic: each no longer than a restart may take, nothing of the hours jumped.
        assert all(0 < i.duration(status.now) < START_S for i in incidents)
        assert status.uptime_s is not None
        assert 0 <= status.uptime_s < START_S
        shown = notices(harness.seen, harness.engine.launch.settings, detector.woke_at)
        assert list(shown) == [incident_key(incidents[0])]
        wall = harness.engine.wall_time(status.now)
        assert abs(wall - time.time()) < 1  # the status's times read in the wall clock of now
        await sessions.assert_kept(before)
