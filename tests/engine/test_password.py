"""The server password: kept only in a real keyring (an OS secret store, or a backend the user
chose), never frozen on: asked in a helper process, with a timeout and a late answer.

Which backend keyring picks depends on the process's environment and is cached per process, so
the choices are tried in child processes with the real keyring library; the asynchronous parts
run here, with their helpers against `tests.slow_keyring`."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import REPO
from tests.desktop import VirtualDesktop
from tray.engine import keyring_helper
from tray.engine.password_source import PasswordSource
from tray.engine.server_password import ACCOUNT, SERVICE, ServerPassword

pytestmark = pytest.mark.timeout(60)

CHILD = """
import json, sys
from tray.engine import keyring_store
store = keyring_store.find_store()
found = getattr(keyring_store, sys.argv[1])()
print(json.dumps({
    "backend": store.backend and keyring_store.backend_name(store.backend),
    "chosen_by_user": store.chosen_by_user,
    "persistent": found.persistent,
    "warning": found.warning,
    "value": found.value,
}))
"""
PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"
SLOW = "tests.slow_keyring.SlowKeyring"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """No session bus (so no Secret Service), nothing chosen, everything under `home`."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DBUS_SESSION_BUS_ADDRESS", "PYTHON_KEYRING_BACKEND")
        and not k.startswith("XDG_")
    }
    return base | {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "PYTHONPATH": str(REPO),
    }


def child(env: dict[str, str], call: str = "load_or_create") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, call],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return found


def files_holding(root: Path, secret: str) -> list[Path]:
    return [
        path
        for path in root.rglob("*")
        if path.is_file() and secret in path.read_text(errors="replace")
    ]


def keyrings_alt_installed() -> bool:
    return importlib.util.find_spec("keyrings") is not None


# -- which keyring keeps the password ------------------------------------------------------------


def test_a_plain_file_keyring_picked_by_itself_is_no_keyring(
    env: dict[str, str], home: Path
) -> None:
    first, second = child(env), child(env)
    assert first["backend"] is None
    assert not first["persistent"]
    assert first["warning"].startswith("No keyring available (no OS secret store found, only ")
    if keyrings_alt_installed():  # the test extras install it: keyring's own fallback then
        assert PLAINTEXT in first["warning"]
    assert "PYTHON_KEYRING_BACKEND" in first["warning"]  # how to choose one
    assert first["value"] != second["value"]  # per run
    assert files_holding(home, first["value"]) == []


@pytest.mark.skipif(not keyrings_alt_installed(), reason="needs keyrings.alt (the test extras)")
def test_a_plain_file_keyring_the_user_chose_is_honoured(env: dict[str, str], home: Path) -> None:
    env["PYTHON_KEYRING_BACKEND"] = PLAINTEXT
    first, second = child(env), child(env)
    assert first["backend"] == PLAINTEXT
    assert first["chosen_by_user"]
    assert first["persistent"]
    assert first["warning"] is None
    assert second["value"] == first["value"]  # stable across runs
    assert (home / ".local/share/python_keyring/keyring_pass.cfg").is_file()  # where it keeps it


@pytest.mark.skipif(not keyrings_alt_installed(), reason="needs keyrings.alt (the test extras)")
def test_a_keyring_chosen_in_keyringrc_is_honoured(env: dict[str, str], home: Path) -> None:
    config = home / ".config" / "python_keyring" / "keyringrc.cfg"
    config.parent.mkdir(parents=True)
    config.write_text(f"[backend]\ndefault-keyring={PLAINTEXT}\n")
    found = child(env)
    assert (found["backend"], found["chosen_by_user"], found["persistent"]) == (
        PLAINTEXT,
        True,
        True,
    )
    assert child(env)["value"] == found["value"]


def test_keyring_disabled_by_the_user_keeps_nothing(env: dict[str, str], home: Path) -> None:
    # `keyring --disable` writes exactly this: the null backend, which drops what it is given.
    config = home / ".config" / "python_keyring" / "keyringrc.cfg"
    config.parent.mkdir(parents=True)
    config.write_text("[backend]\ndefault-keyring=keyring.backends.null.Keyring\n")
    found = child(env)
    assert found["chosen_by_user"]
    assert not found["persistent"]
    assert "did not keep the password" in found["warning"]


@pytest.mark.parametrize(
    ("backend", "said"),
    [
        ("keyring.backends.fail.Keyring", "NoKeyringError"),
        ("no_such_module.Keyring", "the keyring backend you chose failed: ModuleNotFoundError"),
    ],
)
def test_a_chosen_keyring_that_fails_is_said(env: dict[str, str], backend: str, said: str) -> None:
    env["PYTHON_KEYRING_BACKEND"] = backend
    found = child(env)
    assert not found["persistent"]
    assert found["warning"].startswith("No keyring available (")
    assert said in found["warning"]


def test_rotate_without_a_keyring_is_per_run(env: dict[str, str]) -> None:
    found = child(env, "rotate")
    assert not found["persistent"]
    assert found["warning"].startswith("No keyring available")


@pytest.mark.skipif(not keyrings_alt_installed(), reason="needs keyrings.alt (the test extras)")
def test_rotate_stores_a_new_password(env: dict[str, str]) -> None:
    env["PYTHON_KEYRING_BACKEND"] = PLAINTEXT
    first = child(env)
    rotated = child(env, "rotate")
    assert rotated["persistent"]
    assert rotated["value"] != first["value"]
    assert child(env)["value"] == rotated["value"]


@pytest.mark.e2e
def test_the_secret_service_is_the_keyring_even_beside_a_plain_file_one(tmp_path: Path) -> None:
    with VirtualDesktop(tmp_path, tray=False, notifications=False, keyring=True) as desk:
        env = desk.env | {"PYTHONPATH": str(REPO)}
        env.pop("PYTHON_KEYRING_BACKEND", None)
        found = child(env)
        assert found["backend"] == "keyring.backends.SecretService.Keyring"
        assert not found["chosen_by_user"]
        assert found["persistent"]
        read = subprocess.run(
            [
                sys.executable,
                "-c",
                "from keyring.backends.SecretService import Keyring\n"
                f"print(Keyring().get_password({SERVICE!r}, {ACCOUNT!r}))",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert read.stdout.strip() == found["value"]
        assert child(env)["value"] == found["value"]
        assert files_holding(desk.home, found["value"]) == []


# -- never frozen: a helper process, a timeout, a late answer ------------------------------------


def helper(call: str, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """The helper's exit code, stdout and stderr, run as the app runs it: its stdin stays open
    until it has answered (it exits when its stdin ends: the app has gone)."""
    with subprocess.Popen(
        keyring_helper.command(call),
        env=env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as running:
        assert running.stdout is not None
        assert running.stderr is not None
        out, err = running.stdout.read(), running.stderr.read()
        return running.wait(30), out, err


def test_the_helper_answers_on_stdout_and_its_log_comes_along(env: dict[str, str]) -> None:
    code, out, err = helper("load", env)
    assert code == 0
    found = keyring_helper.answer(out)
    assert not found.persistent  # no keyring in `env`
    assert found.warning is not None
    assert found.value.encode() not in err
    said = json.loads(out)
    assert [name for _, name, _ in said["log"]] == ["tray.engine.server_password"]


@pytest.mark.parametrize(
    "out", [b"", b"not json\n", b'{"value": 1}\n', b'{"value": "x", "persistent": "yes"}\n']
)
def test_an_answer_that_is_not_one_is_said(out: bytes) -> None:
    with pytest.raises(keyring_helper.HelperFailed, match="answer is not one"):
        keyring_helper.answer(out)


def test_a_helper_whose_app_has_gone_exits(env: dict[str, str]) -> None:
    env |= {"PYTHON_KEYRING_BACKEND": SLOW}  # no delay: it never answers
    helper = subprocess.Popen(
        keyring_helper.command("load"),
        env=env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert helper.stdin is not None
    with pytest.raises(subprocess.TimeoutExpired):
        helper.wait(1)  # asking, for good
    helper.stdin.close()  # what the app's end does when it dies
    assert helper.wait(10) == 3


def test_the_helper_refuses_a_call_it_does_not_know(env: dict[str, str]) -> None:
    code, _, err = helper("steal", env)
    assert code == 2
    assert b"usage: --keyring-helper {load,rotate}" in err


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SlowKeyring:
    """`tests.slow_keyring` as the chosen keyring, held until the test opens its gate."""
    keyring = SlowKeyring(tmp_path)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", SLOW)
    monkeypatch.setenv("SLOW_KEYRING_FILE", str(keyring.store))
    monkeypatch.setenv("SLOW_KEYRING_GATE_FILE", str(keyring.gate))
    monkeypatch.setenv("SLOW_KEYRING_ASKED_FILE", str(keyring.asked))
    monkeypatch.setenv("SLOW_KEYRING_FAIL_FILE", str(keyring.fails))
    monkeypatch.delenv("SLOW_KEYRING_DELAY_S", raising=False)
    monkeypatch.delenv("SLOW_KEYRING_FAIL", raising=False)
    return keyring


class SlowKeyring:
    """The files that steer `tests.slow_keyring` in the helper processes."""

    def __init__(self, root: Path) -> None:
        self.store = root / "slow-keyring.json"
        self.gate = root / "gate"
        self.asked = root / "asked"
        self.fails = root / "fails"

    def kept(self) -> str:
        value: str = json.loads(self.store.read_text())[f"{SERVICE}/{ACCOUNT}"]
        return value

    async def wait_asked(self) -> None:
        """Until the helper has started asking (another process: a file, not an event)."""
        for _ in range(1000):
            if self.asked.exists():
                return
            await asyncio.sleep(0.02)
        pytest.fail("the helper never asked the keyring")


class Uses:
    """What `PasswordSource` hands over, and a way to wait for the next one."""

    def __init__(self) -> None:
        self.got: list[tuple[ServerPassword, bool]] = []
        self._changed = asyncio.Event()

    def __call__(self, found: ServerPassword, late: bool) -> None:
        self.got.append((found, late))
        self._changed.set()

    async def wait(self, count: int) -> None:
        while len(self.got) < count:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), 30)


async def ticks_while(task: asyncio.Task[None]) -> int:
    """How many times a 10 ms timer ran on the loop while `task` ran."""
    count = 0
    while not task.done():
        await asyncio.sleep(0.01)
        count += 1
    return count


def helpers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if keyring_helper.FLAG in p.cmdline()]


async def test_a_keyring_that_answers_in_time_gives_its_password(slow: SlowKeyring) -> None:
    uses = Uses()
    task = asyncio.create_task(PasswordSource().obtain(30, uses))
    await slow.wait_asked()
    await asyncio.sleep(0.2)
    assert uses.got == []  # still asking, and the loop runs meanwhile
    slow.gate.touch()
    await task
    ((found, late),) = uses.got
    assert (found.persistent, late, found.warning) == (True, False, None)
    assert slow.kept() == found.value


async def test_a_keyring_that_does_not_answer_in_time_and_then_does(slow: SlowKeyring) -> None:
    uses = Uses()
    task = asyncio.create_task(PasswordSource().obtain(0.5, uses))
    assert await ticks_while(task) > 5  # the loop ran while the keyring did not answer
    ((per_run, late),) = uses.got
    assert (per_run.persistent, late) == (False, False)
    assert per_run.warning is not None
    assert per_run.warning.startswith("The keyring did not answer within 0 s")  # 0.5 rounded
    assert "from the next server restart on" in per_run.warning

    slow.gate.touch()  # the user answers the prompt after all
    await uses.wait(2)
    stored, late = uses.got[1]
    assert (stored.persistent, late) == (True, True)
    assert stored.value != per_run.value
    assert slow.kept() == stored.value


async def test_a_rotation_the_keyring_does_not_answer_in_time(slow: SlowKeyring) -> None:
    uses = Uses()
    assert await PasswordSource().rotate(0.3, uses) is None
    slow.gate.touch()
    await uses.wait(1)
    ((stored, late),) = uses.got
    assert (stored.persistent, late) == (True, True)


async def test_a_keyring_that_fails_after_the_timeout_changes_nothing(slow: SlowKeyring) -> None:
    uses = Uses()
    source = PasswordSource()
    await source.obtain(0.3, uses)
    slow.fails.touch()
    slow.gate.touch()  # the prompt is cancelled after all
    rotated = await source.rotate(30, uses)  # answered after the stuck call: one at a time
    assert rotated is not None
    assert not rotated.persistent
    assert [late for _, late in uses.got] == [False]  # the per-run password stays


async def test_a_helper_that_fails_gives_a_per_run_password_that_says_why(
    slow: SlowKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyring_helper, "command", lambda call: [sys.executable, "-c", "1/0"])
    uses = Uses()
    await PasswordSource().obtain(30, uses)
    ((found, late),) = uses.got
    assert (found.persistent, late) == (False, False)
    assert found.warning is not None
    assert "the keyring helper exited with 1: ZeroDivisionError: division by zero" in found.warning


async def test_closing_kills_a_helper_that_never_answers(slow: SlowKeyring) -> None:
    source = PasswordSource()
    uses = Uses()
    await source.obtain(0.3, uses)
    (stuck,) = helpers()
    await source.close()
    assert not stuck.is_running() or stuck.status() == psutil.STATUS_ZOMBIE
    assert helpers() == []


def test_a_keyring_that_never_answers_does_not_keep_the_app_from_exiting(
    env: dict[str, str],
) -> None:
    script = (
        "import asyncio\n"
        "from tray.engine.password_source import PasswordSource\n"
        "got = []\n"
        "async def main():\n"
        "    source = PasswordSource()\n"
        "    await source.obtain(0.2, lambda p, late: got.append(p))\n"
        "    await source.close()\n"
        "asyncio.run(main())\n"
        "print(got[0].persistent)\n"
    )
    env |= {"PYTHON_KEYRING_BACKEND": SLOW}  # no delay: it never answers
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=REPO,
    )
    assert done.stdout == "False\n"
