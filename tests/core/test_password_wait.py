"""A start held back while the keyring is asked for the server password (PasswordPending until
PasswordReady): the state says so, nothing is spawned, and the start goes ahead when it is known."""

from __future__ import annotations

from tests.core.driver import Driver
from tray.core import causes
from tray.core.causes import CauseKind
from tray.core.messages import PasswordPending, PasswordReady, Spawn
from tray.core.status import State

TIMEOUT = 60.0


def waiting(d: Driver) -> None:
    assert d.send(PasswordPending(TIMEOUT)) == []


def test_a_start_waits_for_the_password_and_says_why() -> None:
    d = Driver()
    waiting(d)
    assert d.start() == []
    status = d.status
    assert status.state is State.STARTING
    assert status.cause == causes.keyring_waiting(TIMEOUT)
    assert status.cause.kind is CauseKind.KEYRING_WAITING
    assert "60 s" in status.cause.text
    assert status.incidents == ()  # waiting is not an incident: nothing to notify
    assert d.sup.next_deadline() is None  # no startup timeout runs: the engine owns the wait

    d.now += 300
    assert d.send(PasswordReady()) == [Spawn(1)]
    assert d.status.cause is None
    d.connect()
    assert d.states == [State.STOPPED, State.STARTING, State.CONNECTED]


def test_a_password_known_before_the_start_holds_nothing_back() -> None:
    d = Driver()
    waiting(d)
    assert d.send(PasswordReady()) == []
    assert d.state() is State.STOPPED
    assert d.start() == [Spawn(1)]


def test_stopped_while_waiting_stays_stopped_when_the_password_comes() -> None:
    d = Driver()
    waiting(d)
    d.start()
    d.stop()
    assert d.state() is State.STOPPED
    assert d.status.cause is None
    assert d.send(PasswordReady()) == []
    assert d.state() is State.STOPPED
    assert d.start() == [Spawn(1)]


def test_a_restart_while_waiting_waits_too() -> None:
    d = Driver()
    waiting(d)
    d.start()
    assert d.restart() == []
    assert d.status.cause is not None
    assert d.status.cause.kind is CauseKind.KEYRING_WAITING
    assert d.send(PasswordReady()) == [Spawn(1)]


def test_a_second_ready_spawns_nothing_more() -> None:
    d = Driver()
    waiting(d)
    d.start()
    assert d.send(PasswordReady()) == [Spawn(1)]
    assert d.send(PasswordReady()) == []
    d.connect()
    assert d.send(PasswordReady()) == []
    assert d.state() is State.CONNECTED


def test_a_crash_after_the_wait_restarts_as_usual() -> None:
    d = Driver()
    waiting(d)
    d.start()
    d.send(PasswordReady())
    d.connect()
    d.exited(1)
    assert d.state() is State.CRASHED
    assert d.next_tick() == [Spawn(2)]
