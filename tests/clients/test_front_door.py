"""The real clients through the front door, while the server behind it is killed, frozen past
the hung limit and restarted, while the app gives up or quits, and with a bad password.

All four at once on one door: the official JS SDK (node), a strict client (any transport error
is fatal to it), `opencode attach` in tmux, and the web app in Chromium opened through the door's
one-time sign-in URL with no stored credentials. After each fault, each must go on working
without being restarted, reconnected or reloaded by anyone:
- the strict client: no error, its one stream still open, and it gets the events that follow;
- the SDK: no stream error at all (so none of its own retry waits), and it gets those events;
- the TUI: still running, and its /sessions list shows a session created after the restart;
- the web app: still the same page (no reload), no sign-in prompt (no Basic challenge), and a
  session renamed after the restart shows its new title.
"""

from __future__ import annotations

import base64
import contextlib
import time
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import boot_directory
from tests.clients.sdk import SdkClient
from tests.clients.strict import Event, StrictClient
from tests.clients.target import Target
from tests.clients.tui import TuiClient
from tests.clients.web import WebClient
from tests.engine.helpers import LaunchFactory
from tests.frontdoor.helpers import DoorUnderTest, door_over
from tray.core.status import State, Status

pytestmark = [pytest.mark.server, pytest.mark.clients, pytest.mark.timeout(600)]

# As tests/frontdoor: a watchdog longer than the server's 10 s beat, then restart 2 s after.
HUNG: dict[str, Any] = {"heartbeat_timeout_s": 11.0, "hung_restart_after_s": 2.0}
START_S = 90.0  # a client's first screen on a loaded 2-core machine
MARKER = "window.__trayTestMarker"
WITNESS_S = 15.0  # for the server's own `session.created` (about 0.1 s when it comes)
PROBE_S = 90.0  # how long the SDK makes new sessions for one the server sends the event of


def created(properties: dict[str, Any], session_id: str) -> bool:
    """`session.created`'s properties are those of `session_id`."""
    return bool(properties.get("info", {}).get("id") == session_id)


def announces(session_id: str) -> Callable[[Event], bool]:
    """Whether a strict client's event is `session_id`'s `session.created`."""
    return lambda event: event.type == "session.created" and created(event.properties, session_id)


def web_path(directory: Path, session_id: str) -> str:
    where = base64.urlsafe_b64encode(str(directory).encode()).decode().rstrip("=")
    return f"/{where}/session/{session_id}"


@dataclass
class Clients:
    door: DoorUnderTest
    workdir: Path
    strict: StrictClient
    sdk: SdkClient
    tui: TuiClient
    web: WebClient
    page_session: str  # the session the web app shows
    server_log: Path  # the server's own log (all its starts), to tell its side
    problems: list[str] = field(default_factory=list)
    server_misses: list[str] = field(default_factory=list)  # sessions the server sent no event of
    results: dict[str, dict[str, str]] = field(default_factory=dict)  # fault -> client -> result

    def server_log_tail(self, lines: int = 80) -> str:
        if not self.server_log.exists():
            return f"(no server log at {self.server_log})"
        tail = self.server_log.read_text(errors="replace").splitlines()[-lines:]
        return "the server's log:\n" + "\n".join(line[:240] for line in tail)

    @property
    def target(self) -> Target:
        return Target(self.door.url, self.door.username, self.door.password)

    async def rest(self, method: str, path: str, **options: Any) -> httpx.Response:
        async with self.door.client() as http:
            return await http.request(
                method, path, params={"directory": str(self.workdir)}, **options
            )

    def healthy(self, fault: str) -> list[str]:
        """What went wrong so far, per client (empty: nothing)."""
        wrong = []
        if self.strict.done:
            wrong.append(f"strict client after {fault}: {self.strict.describe()}")
        if self.sdk.errors() or self.sdk.ended():
            wrong.append(f"SDK after {fault}: {self.sdk.describe()}")
        if self.web.challenges():
            wrong.append(f"web app after {fault}: sign-in asked by {self.web.challenges()[:3]}")
        return wrong

    async def check(self, fault: str, client: str, step: Any) -> bool:
        """Await one client's check; a failure is recorded (so that every client is tried after
        every fault) and makes the test fail at its end."""
        try:
            await step
        except AssertionError as error:
            self.problems.append(f"{client} after {fault}: {error}")
            self.results.setdefault(fault, {})[client] = "FAILED"
            return False
        self.results.setdefault(fault, {}).setdefault(client, "ok")
        return True

    async def still_working(self, fault: str) -> None:
        """Each client, after `fault` and the new server: the checks in the module doc."""
        since = time.monotonic()
        mark = self.strict.events[-1].at if self.strict.events else 0.0
        sdk_mark = self.sdk.lines[-1]["at"] if self.sdk.lines else 0.0
        made, title = await self.witnessed_session(fault)

        async def strict() -> None:
            await self.strict.wait_for(announces(made), 60, after=mark)
            assert not self.strict.done, self.strict.describe()

        async def sdk() -> None:
            await self.sdk.wait_for(
                lambda line: (
                    line.get("type") == "session.created" and created(line["properties"], made)
                ),
                60,
                after=sdk_mark,
            )
            assert not self.sdk.errors(), self.sdk.describe()
            assert not self.sdk.ended(), self.sdk.describe()

        async def tui() -> None:
            assert not await self.tui.exited(), await self.tui.screen()
            await self.tui.session_list(title, within=60)

        async def web() -> None:
            renamed = f"renamed after {fault}"
            answer = await self.rest(
                "PATCH", f"/session/{self.page_session}", json={"title": renamed}
            )
            assert answer.status_code == 200, answer.text
            await self.web.wait_text(renamed, within=60)
            assert await self.web.page().evaluate(MARKER) == 1, "the page was reloaded"
            assert not self.web.challenges(), f"sign-in asked by {self.web.challenges()[:3]}"

        await self.check(fault, "strict", strict())
        await self.check(fault, "SDK", sdk())
        await self.check(fault, "TUI", tui())
        await self.check(fault, "web app", web())
        took = time.monotonic() - since
        print(f"{fault}: {self.results[fault]} ({took:.1f} s after the new server was connected)")

    async def witnessed_session(self, fault: str) -> tuple[str, str]:
        """A session the SDK makes through the door after `fault` whose `session.created` the
        server did send: a witness on the server's own stream (not through the door) saw it.
        Under load the new server sometimes sends none for a session made while it is still
        starting a project (FINDINGS.md), and an event the server never sent is not the door's
        to deliver: the SDK then makes another one, for up to PROBE_S. Its id and title."""
        upstream = self.door.harness.engine.snapshot().upstream
        assert upstream is not None, self.door.harness.trail()
        own = upstream.credentials
        async with StrictClient(Target(upstream.url, own.username, own.password)) as witness:
            await witness.wait_for(lambda e: e.type == "server.connected", 30)
            deadline = time.monotonic() + PROBE_S
            attempt = 0
            while True:
                attempt += 1
                title = f"made after {fault}" + (f" ({attempt})" if attempt > 1 else "")
                reply = await self.sdk.command("create", title, within=60)
                assert reply["ok"], f"SDK create after {fault}: {reply}"
                made: str = reply["data"]["id"]
                try:
                    await witness.wait_for(announces(made), WITNESS_S)
                    return made, title
                except AssertionError:
                    self.server_misses.append(f"after {fault}: {made} ({attempt})")
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            f"the server itself sent no session.created after {fault} for "
                            f"{PROBE_S:.0f} s: {self.server_misses}\n{self.server_log_tail()}"
                        ) from None


async def back_after(door: DoorUnderTest, old: Status) -> Status:
    """Connected to a new server (a server start took over 30 s here under load)."""
    return await door.harness.connected_to_a_new_server(old, within=START_S)


@contextlib.asynccontextmanager
async def clients_on(
    door: DoorUnderTest, opencode_binary: str, server_env: dict[str, str]
) -> AsyncIterator[Clients]:
    target = Target(door.url, door.username, door.password)
    workdir = door.harness.engine.launch.cwd()
    await boot_directory(target, workdir)
    async with door.client() as http:
        made = await http.post(
            "/session", params={"directory": str(workdir)}, json={"title": "open in the browser"}
        )
        assert made.status_code == 200, made.text
    page_session: str = made.json()["id"]
    async with (
        StrictClient(target) as strict,
        SdkClient(target) as sdk,
        TuiClient(opencode_binary, target, server_env, workdir) as tui,
        WebClient() as web,
    ):
        log = Path(server_env["XDG_DATA_HOME"]) / "opencode" / "log" / "opencode.log"
        clients = Clients(door, workdir, strict, sdk, tui, web, page_session, log)
        await strict.wait_for(lambda e: e.type == "server.connected", START_S)
        await sdk.wait_for(lambda line: line.get("type") == "server.connected", START_S)
        await tui.wait_screen("Ask anything", START_S)
        await web.open(door.door.login_url(web_path(workdir, page_session)))
        await web.wait_text("open in the browser", START_S)
        await web.page().evaluate(f"{MARKER} = 1")
        assert clients.healthy("the start") == []
        yield clients


@contextlib.asynccontextmanager
async def door_with_clients(
    make_launch: LaunchFactory, opencode_binary: str, server_env: dict[str, str], **settings: Any
) -> AsyncIterator[Clients]:
    async with door_over(make_launch(**settings)) as door:
        await door.ready()
        async with clients_on(door, opencode_binary, server_env) as clients:
            yield clients


async def test_every_client_keeps_working_through_kill_freeze_and_restart(
    make_launch: LaunchFactory, opencode_binary: str, server_env: dict[str, str]
) -> None:
    async with door_with_clients(make_launch, opencode_binary, server_env) as clients:
        door = clients.door

        old: Status = door.harness.engine.status()
        door.kill()
        await back_after(door, old)
        await clients.still_working("SIGKILL")

        # The short hung limit only now: on a loaded machine it would restart a server that is
        # merely slow, in the middle of the other steps.
        engine = door.harness.engine
        usual = engine.launch.settings
        engine.apply_settings(replace(usual, heartbeat_timeout_s=11.0, hung_restart_after_s=2.0))
        old = engine.status()
        pid = door.freeze()
        try:
            await back_after(door, old)
        finally:
            door.thaw(pid)
            engine.apply_settings(usual)
        await clients.still_working("SIGSTOP")

        old = door.harness.engine.status()
        door.restart()
        await back_after(door, old)
        await clients.still_working("restart")
        if clients.server_misses:  # shown in the warnings summary, so that CI counts them
            warnings.warn(
                f"the server sent no session.created for {clients.server_misses}", stacklevel=1
            )
        assert not clients.problems, "\n\n".join([*clients.problems, clients.server_log_tail()])


async def test_the_breaker_giving_up_ends_every_clients_stream(
    make_launch: LaunchFactory, opencode_binary: str, server_env: dict[str, str]
) -> None:
    async with door_with_clients(
        make_launch, opencode_binary, server_env, crash_loop_limit=2
    ) as clients:
        door = clients.door
        old = door.harness.engine.status()
        door.kill()
        await back_after(door, old)
        door.kill()
        await door.harness.wait_state(State.FAILED, within=60)
        await clients.strict.wait_done(60)
        assert clients.strict.ended, clients.strict.describe()
        assert clients.strict.error is None, clients.strict.describe()
        await clients.sdk.wait_for(lambda line: line["kind"] == "end", 60)
        assert clients.sdk.errors() == [], clients.sdk.describe()
        answer = await clients.sdk.command("list")
        assert not answer["ok"]
        assert answer["error"].startswith("503"), answer
        assert "gave up" in answer["error"], answer
        assert not await clients.tui.exited(), await clients.tui.screen()
        assert clients.web.challenges() == []


async def test_the_app_quitting_ends_every_clients_stream_cleanly(
    make_launch: LaunchFactory, opencode_binary: str, server_env: dict[str, str]
) -> None:
    async with door_with_clients(make_launch, opencode_binary, server_env) as clients:
        door = clients.door
        await door.harness.engine.shutdown()
        await door.door.close()
        await clients.strict.wait_done(60)
        assert clients.strict.ended, clients.strict.describe()
        assert clients.strict.error is None, clients.strict.describe()
        await clients.sdk.wait_for(lambda line: line["kind"] == "end", 60)
        assert clients.sdk.errors() == [], clients.sdk.describe()
        assert not await clients.tui.exited(), await clients.tui.screen()
        assert clients.web.challenges() == []


async def test_a_bad_password_is_refused_at_once_while_the_server_is_frozen(
    make_launch: LaunchFactory, opencode_binary: str, server_env: dict[str, str]
) -> None:
    """Every client with a wrong password gets 401 while the server is frozen: the door answers
    it itself and holds nothing (a held request would wait for the restart)."""
    async with door_over(make_launch()) as door:
        await door.ready()
        workdir = door.harness.engine.launch.cwd()
        bad = Target(door.url, door.username, "not the password")
        pid = door.freeze()
        try:
            async with StrictClient(bad) as strict, SdkClient(bad) as sdk, WebClient() as web:
                await strict.wait_done(30)
                assert strict.status == 401, strict.describe()
                await sdk.wait_for(lambda line: line["kind"] == "sse-error", 30)
                assert "401" in sdk.errors()[0]["message"], sdk.describe()
                reply = await sdk.command("list")
                assert reply["error"].startswith("401"), reply
                token = base64.b64encode(f"{bad.username}:{bad.password}".encode()).decode()
                await web.open(f"{door.url}/?auth_token={token}")
                await web.wait_for(web.challenges)
                async with TuiClient(opencode_binary, bad, server_env, workdir) as tui:
                    screen = await tui.wait_screen("TUI EXITED", 60)
                assert door.door.stats().requests_held == 0
                assert door.harness.engine.status().pid == pid  # the same, frozen server
            shown = " | ".join(line.strip() for line in screen.splitlines() if line.strip())
            print("TUI with a bad password:", shown[:300])
        finally:
            door.thaw(pid)
