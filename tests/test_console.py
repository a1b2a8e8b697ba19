"""The command line's console on Windows (tray/cli/console.py): what can be tried here, without
Windows. The windowed program attaching to a real console, and a terminal choosing
opencode-tray.com over opencode-tray.exe, can only be seen on Windows."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from tray import __main__ as entry
from tray.cli import console
from tray.shell import startup


class FakeKernel32:
    def __init__(self, attaches: bool) -> None:
        self.attaches = attaches
        self.asked: list[int] = []

    def AttachConsole(self, process_id: int) -> int:
        self.asked.append(process_id)
        return int(self.attaches)


class Console:
    """What a test's fake console received."""

    def __init__(self) -> None:
        self.streams: list[io.StringIO] = []

    def open(self, name: str) -> io.StringIO:
        assert name == "CONOUT$"
        stream = io.StringIO()
        self.streams.append(stream)
        return stream

    @property
    def text(self) -> str:
        return "".join(stream.getvalue() for stream in self.streams)


@pytest.fixture
def windowed(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeKernel32, Console]:
    """Windows, with a parent console; `no_output()` in the test makes this process a windowed
    program (pytest's capture puts its own stdout back between a fixture and the test)."""
    kernel32, opened = FakeKernel32(attaches=True), Console()
    monkeypatch.setattr(console, "_kernel32", lambda: kernel32)
    monkeypatch.setattr(console, "_open_console", opened.open)
    return kernel32, opened


@pytest.fixture
def qt_app() -> None:
    """The instance channel makes a bare QCoreApplication when none exists, which the async tests
    that run after it in this process could not use: make the QApplication they expect first."""
    QApplication.instance() or QApplication([])


def no_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        ([], False),
        (["--background"], False),
        (["--wait-for-tray", "--opencode", "/usr/bin/opencode"], False),
        (["status", "--json"], True),
        (["rotate-password"], True),
        (["--version"], True),
        (["-h"], True),
        (["resume", "ses_1"], True),
    ],
)
def test_what_asks_for_output(argv: list[str], wanted: bool) -> None:
    assert console.wants_output(argv) is wanted


def test_a_windowed_program_prints_in_its_parents_console(
    windowed: tuple[FakeKernel32, Console], monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel32, opened = windowed
    no_output(monkeypatch)
    assert console.attach_parent_console()
    assert kernel32.asked == [console.ATTACH_PARENT_PROCESS]
    print("hello")
    print("oops", file=sys.stderr)
    assert opened.text == "hello\noops\n"


def test_without_a_parent_console_nothing_changes(
    windowed: tuple[FakeKernel32, Console], monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel32, opened = windowed
    no_output(monkeypatch)
    kernel32.attaches = False
    assert not console.attach_parent_console()
    assert sys.stdout is None
    assert opened.streams == []


def test_a_program_with_output_of_its_own_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel32 = FakeKernel32(attaches=True)
    monkeypatch.setattr(console, "_kernel32", lambda: kernel32)
    assert not console.attach_parent_console()
    assert kernel32.asked == []


@pytest.mark.skipif(sys.platform == "win32", reason="off Windows")
def test_off_windows_there_is_no_console_to_attach(monkeypatch: pytest.MonkeyPatch) -> None:
    no_output(monkeypatch)
    assert not console.attach_parent_console()
    assert sys.stdout is None


@pytest.mark.usefixtures("qt_app")
def test_status_from_the_windowed_program_prints_in_the_terminal(
    windowed: tuple[FakeKernel32, Console],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no instance runs there
    _, opened = windowed
    no_output(monkeypatch)
    assert entry.main(["status", "--json"]) == 3
    assert json.loads(opened.text) == {"schema": 1, "state": "not_running"}


def test_a_usage_error_from_the_windowed_program_prints_too(
    windowed: tuple[FakeKernel32, Console], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, opened = windowed
    no_output(monkeypatch)
    assert entry.main(["--frobnicate"]) == 2
    assert "unrecognized arguments: --frobnicate" in opened.text


@pytest.mark.parametrize(
    ("executable", "frozen", "twin"),
    [
        ("C:/Users/me/AppData/Local/Programs/opencode-tray/opencode-tray.com", True, True),
        ("C:/build/dist/opencode-tray/opencode-tray-console.exe", True, True),
        ("C:/Users/me/AppData/Local/Programs/opencode-tray/opencode-tray.exe", True, False),
        ("/usr/bin/python3", False, False),
        ("C:/Python311/python.exe", False, False),
        ("C:/odd/OPENCODE-TRAY.COM", False, False),  # not frozen: a Python run
    ],
)
def test_the_console_twin_knows_itself(executable: str, frozen: bool, twin: bool) -> None:
    assert console.is_console_twin(executable, frozen) is twin


def test_the_twin_starts_the_windowed_program_and_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[list[str], dict[str, Any]]] = []

    def popen(args: list[str], **kwargs: Any) -> None:
        started.append((args, kwargs))

    monkeypatch.setattr(subprocess, "Popen", popen)
    twin = str(Path("C:/Programs/opencode-tray/opencode-tray.com"))
    assert console.start_windowed(["--background"], twin) == 0
    ((args, kwargs),) = started
    assert args == [str(Path("C:/Programs/opencode-tray/opencode-tray.exe")), "--background"]
    assert kwargs["creationflags"] == console.DETACHED_PROCESS | console.CREATE_NEW_PROCESS_GROUP
    assert kwargs["stdin"] == kwargs["stdout"] == kwargs["stderr"] == subprocess.DEVNULL


def test_the_twin_says_when_the_windowed_program_cannot_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def popen(args: list[str], **kwargs: Any) -> None:
        raise FileNotFoundError(2, "No such file", args[0])

    monkeypatch.setattr(subprocess, "Popen", popen)
    assert console.start_windowed([], "/opt/opencode-tray/opencode-tray.com") == 1
    assert "could not start /opt/opencode-tray/opencode-tray.exe" in capsys.readouterr().err


def test_the_twin_started_without_a_command_hands_over(monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[list[str]] = []
    monkeypatch.setattr(console, "is_console_twin", lambda: True)

    def start_windowed(argv: list[str]) -> int:
        handed.append(argv)
        return 0

    monkeypatch.setattr(console, "start_windowed", start_windowed)
    monkeypatch.setattr(startup, "run_app", lambda *args: pytest.fail("ran the app in a terminal"))
    assert entry.main(["--background"]) == 0
    assert handed == [["--background"]]


def test_a_command_does_not_load_the_app() -> None:
    # What `opencode-tray status` imports: the instance channel, not the widgets or the engine.
    script = "import sys, tray.__main__\nprint('tray.shell.startup' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "False\n"
