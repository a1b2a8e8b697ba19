"""What every fault-injection test checks after its faults: the server's sessions are all still
there with their messages, one notification per incident with the right cause, nothing left
running, and no secret in the logs. Plus wrapper binaries that make the real server misbehave."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path

import httpx
import psutil
import pytest

from tests.engine.helpers import Harness, Seen, running
from tray.core.causes import CauseKind
from tray.core.notify_policy import RECOVERED_TITLE, Notice, NotifyPolicy, ShowNotice, incident_key
from tray.core.settings import Settings
from tray.core.status import Status
from tray.engine.launch import ServerLaunch

# The server beats every 10 s; a watchdog must wait longer than that (3 s more: a busy
# machine delays a beat).
HEARTBEAT_TIMEOUT_S = 13.0
# One request of the test's own: the first ones to a new server set up its instance, which
# takes seconds on a busy machine.
REQUEST_S = 60.0
# Checks the notification policy asks for between two statuses: a few at most.
MAX_CHECKS = 100

Snapshot = dict[str, list[tuple[str, str]]]  # session id -> (message id, its text) in order


class Sessions:
    """The server's sessions over REST, straight to the server on `port` (past any proxy),
    with the (username, password) that `credentials` gives at each request."""

    def __init__(self, port: int, credentials: Callable[[], tuple[str, str]]) -> None:
        self.port = port
        self.credentials = credentials

    @classmethod
    def of(cls, harness: Harness) -> Sessions:
        """Those of the engine's server, with the password the engine uses now."""

        def current() -> tuple[str, str]:
            return harness.engine.launch.credentials()

        return cls(harness.engine.launch.settings.port, current)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            auth=httpx.BasicAuth(*self.credentials()),
            timeout=REQUEST_S,
            trust_env=False,
        )

    async def create(self, count: int = 2) -> Snapshot:
        """`count` sessions with a user message each (no model needed); then the snapshot."""
        async with self._client() as client:
            for n in range(count):
                created = await client.post("/session", json={"title": f"chaos {n}"})
                created.raise_for_status()
                path = f"/session/{created.json()['id']}/message"
                text = {"noReply": True, "parts": [{"type": "text", "text": f"hello {n}"}]}
                (await client.post(path, json=text)).raise_for_status()
        return await self.snapshot()

    async def poke(self) -> str:
        """Make the server send an event now (a new session, whose id this returns), for a
        fault set to strike then."""
        async with self._client() as client:
            created = await client.post("/session", json={"title": "poke"})
        session_id: str = created.raise_for_status().json()["id"]
        return session_id

    async def snapshot(self) -> Snapshot:
        async with self._client() as client:
            listed = (await client.get("/session")).raise_for_status().json()
            found: Snapshot = {}
            for session in listed:
                answer = await client.get(f"/session/{session['id']}/message")
                found[session["id"]] = [
                    (m["info"]["id"], " ".join(p.get("text", "") for p in m["parts"]))
                    for m in answer.raise_for_status().json()
                ]
        return found

    async def assert_kept(self, before: Snapshot) -> None:
        after = await self.snapshot()
        lost = {sid: messages for sid, messages in before.items() if after.get(sid) != messages}
        assert not lost, f"sessions lost or changed: {lost}"


def watch_closely(harness: Harness) -> None:
    """From now on the engine counts HEARTBEAT_TIMEOUT_S without an event as a stall (the app's
    default waits longer). For after the test's setup: the first requests to a new server set
    up its instance, which can keep it from beating for seconds on a busy machine."""
    settings = replace(harness.engine.launch.settings, heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S)
    harness.engine.apply_settings(settings)


# -- notifications -------------------------------------------------------------------------------


def notices(
    seen: Sequence[Seen], settings: Settings, woke_at: float | None = None
) -> dict[str, list[Notice]]:
    """What the app's notification policy shows for these statuses (no grace period, so that
    even a blip counts; `woke_at`: the last wake from sleep): the notices shown, by key; a key is
    one notification on the desktop, each later notice replacing the one before. As in the app,
    the policy is asked again at each `next_check_at` (a notice held back for its minimum time
    on screen), those after the last status too: the app makes them if nothing else happens."""
    policy = NotifyPolicy()
    quick = replace(settings, notification_grace_s=0.0)
    shown: dict[str, list[Notice]] = {}
    check_at: float | None = None

    def decide(status: Status) -> None:
        nonlocal check_at
        decision = policy.decide(status, quick, status.now, woke_at)
        check_at = decision.next_check_at
        for action in decision.actions:
            if isinstance(action, ShowNotice):
                shown.setdefault(action.notice.key, []).append(action.notice)

    last: Status | None = None
    for item in [*seen, None]:
        for _ in range(MAX_CHECKS):
            if last is None or check_at is None:
                break
            if item is not None and check_at > item.status.now:
                break
            decide(replace(last, now=check_at))
        if item is not None:
            decide(item.status)
            last = item.status
    return shown


def assert_incidents(harness: Harness, *kinds: CauseKind, recovered: bool = True) -> None:
    """The incidents so far had these causes, each got exactly one notification, and each
    recovered (its notification then says so)."""
    status = harness.engine.status()
    trail = harness.trail()
    assert [i.cause.kind for i in status.incidents] == list(kinds), trail
    shown = notices(harness.seen, harness.engine.launch.settings)
    assert list(shown) == [incident_key(i) for i in status.incidents], shown
    if recovered:
        assert all(i.recovered for i in status.incidents), trail
        assert all(n[-1].title == RECOVERED_TITLE for n in shown.values()), shown


# -- processes and logs ----------------------------------------------------------------------


def leftovers(pids: set[int], port: int) -> list[psutil.Process]:
    """Live processes in the process groups of `pids` (each server leads its own group) or
    whose command line serves on `port`."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = proc.info["cmdline"] or []
            serving = "serve" in cmdline and str(port) in cmdline
            if serving or os.getpgid(proc.pid) in pids:
                found.append(proc)
    return found


def server_pids(harness: Harness) -> set[int]:
    return {seen.status.pid for seen in harness.seen if seen.status.pid is not None}


def assert_no_secret(text: str, secrets: Sequence[str]) -> None:
    for secret in secrets:
        assert secret not in text, "a password appeared in the logs"


@contextlib.asynccontextmanager
async def chaos_run(
    launch: ServerLaunch, caplog: pytest.LogCaptureFixture, start: bool = True
) -> AsyncIterator[Harness]:
    """`running` (the engine, its server gone afterwards), plus: no process of any of its
    servers left, no error logged (a failed task, a resync given up), and none of its
    passwords in the log records."""
    caplog.set_level(logging.INFO)
    async with running(launch, start) as harness:
        yield harness
    strays = leftovers(server_pids(harness), launch.settings.port)
    assert not strays, f"left running: {strays}"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    used = {launch.password.value, harness.engine.launch.password.value}
    assert_no_secret(caplog.text, sorted(used))


# -- a misbehaving binary --------------------------------------------------------------------


def wrapper(
    folder: Path, real: str, *, ignore_term: bool = False, delays: Sequence[float] = ()
) -> tuple[str, Callable[[Sequence[float]], None]]:
    """A script that runs the real server: start number i first sleeps delays[i] seconds (none
    once they run out); with `ignore_term` the server inherits SIGTERM ignored. Returns its path
    and a function that sets the delays for the next starts."""
    schedule = folder / "delays"
    script = folder / "opencode"
    trap = "trap '' TERM\n" if ignore_term else ""
    script.write_text(
        "#!/bin/sh\n"
        f"{trap}"
        f'delay=$(head -n 1 "{schedule}")\n'
        f'sed -i 1d "{schedule}"\n'
        '[ -n "$delay" ] && sleep "$delay"\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)

    def set_delays(seconds: Sequence[float]) -> None:
        schedule.write_text("".join(f"{s:g}\n" for s in seconds))

    set_delays(delays)
    return str(script), set_delays
