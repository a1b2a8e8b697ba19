"""The settings dialog, offscreen: messages for bad fields, what it applies, the restart note and
the live binary check (with a fake checker and with the real binary)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
)
from pytestqt.qtbot import QtBot

from tests.support.waiting import wait_until
from tray.core.setting import Kind
from tray.core.settings import SETTINGS, ResumeTarget, Settings
from tray.engine.version_check import VersionCheckError, check_binary
from tray.ui.setting_fields import parse_env
from tray.ui.settings_dialog import FRAME_ALLOWANCE, SettingsDialog

FOUND = "/opt/opencode/bin/opencode"
SLOW_PROBE_S = 30.0  # the most `opencode --version` may take on a loaded machine
Make = Callable[..., SettingsDialog]


class FakeChecker:
    """Finds opencode 1.18.33 at FOUND and for the empty setting; nothing elsewhere."""

    def __init__(self, slow: frozenset[str] = frozenset()) -> None:
        self.slow = slow
        self.calls: list[str] = []
        self.cancelled: list[str] = []

    async def __call__(self, path: str) -> str:
        self.calls.append(path)
        try:
            if path in self.slow:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(path)
            raise
        if path in ("", FOUND):
            return "1.18.33"
        raise VersionCheckError(f"{path}: not found")


@pytest.fixture
def make(qtbot: QtBot) -> Make:
    def make(settings: Settings | None = None, **options: Any) -> SettingsDialog:
        options.setdefault("checker", FakeChecker())
        options.setdefault("check_delay_ms", 0)
        dialog = SettingsDialog(settings or Settings(), **options)
        qtbot.addWidget(dialog)
        dialog.show()
        return dialog

    return make


def edit(dialog: SettingsDialog, name: str) -> QLineEdit:
    found = dialog.findChild(QLineEdit, name)
    assert found is not None, name
    return found


def env_box(dialog: SettingsDialog) -> QPlainTextEdit:
    found = dialog.findChild(QPlainTextEdit, "extra_env")
    assert found is not None
    return found


def check(dialog: SettingsDialog, name: str) -> QCheckBox:
    found = dialog.findChild(QCheckBox, name)
    assert found is not None, name
    return found


def label(dialog: SettingsDialog, name: str) -> QLabel:
    found = dialog.findChild(QLabel, name)
    assert found is not None, name
    return found


def reveal(dialog: SettingsDialog, name: str) -> None:
    """Turn to the page that shows the setting, as a person would to see it."""
    pages = dialog.findChild(QTabWidget, "pages")
    assert pages is not None
    pages.setCurrentIndex(dialog.page_of(name))


def shown_page(dialog: SettingsDialog) -> QScrollArea:
    pages = dialog.findChild(QTabWidget, "pages")
    assert pages is not None
    page = pages.currentWidget()
    assert isinstance(page, QScrollArea)
    return page


def error(dialog: SettingsDialog, name: str) -> str | None:
    """The message next to the field, or None when there is none to see on its page."""
    reveal(dialog, name)
    shown = label(dialog, f"{name}_error")
    return shown.text() if shown.isVisible() else None


def button(dialog: SettingsDialog, which: QDialogButtonBox.StandardButton) -> QPushButton:
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    found = box.button(which)
    assert found is not None
    return found


def ok(dialog: SettingsDialog) -> QPushButton:
    return button(dialog, QDialogButtonBox.StandardButton.Ok)


def apply(dialog: SettingsDialog) -> QPushButton:
    return button(dialog, QDialogButtonBox.StandardButton.Apply)


def type_into(dialog: SettingsDialog, name: str, text: str) -> None:
    if name == "extra_env":
        env_box(dialog).setPlainText(text)
    else:
        edit(dialog, name).setText(text)


def restart_note(dialog: SettingsDialog) -> str | None:
    note = dialog.findChild(QLabel, "restart_label")
    frame = dialog.findChild(QPushButton, "restart_button")
    assert note is not None
    assert frame is not None
    return note.text() if frame.isVisible() else None


def record(signal: Any) -> list[Any]:
    seen: list[Any] = []
    signal.connect(lambda *args: seen.append(args[0] if args else "emitted"))
    return seen


# -- what it shows -------------------------------------------------------------------------------


async def test_the_fields_show_the_settings(make: Make, tmp_path: Path) -> None:
    settings = Settings(
        opencode_path=FOUND,
        port=5123,
        working_directory=str(tmp_path),
        extra_env={"HTTPS_PROXY": "http://proxy:3128", "EMPTY": ""},
        startup_timeout_s=90.0,
        heartbeat_timeout_s=40.5,
        crash_loop_limit=3,
        crash_loop_window_s=600.0,
        notification_grace_s=0.0,
        start_at_login=True,
        notify_recovered=False,
    )
    dialog = make(settings)
    assert not dialog.isModal()
    shown = {name: edit(dialog, name).text() for name in ("port", "startup_timeout_s")}
    assert shown == {"port": "5123", "startup_timeout_s": "90"}
    assert edit(dialog, "heartbeat_timeout_s").text() == "40.5"
    assert edit(dialog, "crash_loop_limit").text() == "3"
    assert edit(dialog, "crash_loop_window_s").text() == "600"
    assert edit(dialog, "notification_grace_s").text() == "0"
    assert edit(dialog, "reconnect_max_s").text() == "30"
    assert edit(dialog, "working_directory").text() == str(tmp_path)
    assert env_box(dialog).toPlainText() == "HTTPS_PROXY=http://proxy:3128\nEMPTY=\n"
    assert check(dialog, "start_at_login").isChecked()
    assert check(dialog, "start_server_with_app").isChecked()
    assert check(dialog, "notify_incidents").isChecked()
    assert not check(dialog, "notify_recovered").isChecked()
    assert not check(dialog, "notify_session_finished").isChecked()
    assert ok(dialog).isEnabled()
    assert not apply(dialog).isEnabled()  # nothing to apply yet
    assert restart_note(dialog) is None
    assert dialog.edited() == settings


async def test_every_setting_has_its_input_on_its_page(make: Make) -> None:
    dialog = make()
    pages = dialog.findChild(QTabWidget, "pages")
    assert pages is not None
    assert [pages.tabText(i) for i in range(pages.count())] == ["General", "Advanced"]
    kinds = {Kind.FLAG: QCheckBox, Kind.CHOICE: QComboBox, Kind.ENV: QPlainTextEdit}
    for name, declared in SETTINGS.items():
        widget = dialog.findChild(kinds.get(declared.kind, QLineEdit), name)
        assert widget is not None, name
        assert widget.toolTip() == declared.help
        page = pages.widget(dialog.page_of(name))
        assert page.isAncestorOf(widget), name
        assert dialog.page_of(name) == (1 if declared.advanced else 0)
    for name in ("resume_target", "terminal_command", "stop_grace_s", "hung_restart_after_s"):
        assert SETTINGS[name].advanced, name


async def test_empty_paths_say_what_empty_means(make: Make) -> None:
    dialog = make()
    assert edit(dialog, "opencode_path").placeholderText().startswith("opencode on PATH")
    assert edit(dialog, "working_directory").placeholderText() == "your home folder"
    assert edit(dialog, "terminal_command").placeholderText() == "the platform's terminal"
    assert env_box(dialog).placeholderText() == "NAME=value, one per line"


async def test_no_label_is_cut_off(make: Make) -> None:
    dialog = make()
    for index in range(2):
        reveal(dialog, "port" if index == 0 else "stop_grace_s")
        await asyncio.sleep(0.02)
        for shown in dialog.findChildren(QLabel):
            if shown.isVisible() and shown.text() and not shown.wordWrap():
                assert shown.width() >= shown.sizeHint().width(), shown.text()


async def test_the_advanced_settings_apply(make: Make) -> None:
    dialog = make()
    applied = record(dialog.applied)
    choice = dialog.findChild(QComboBox, "resume_target")
    assert choice is not None
    assert [choice.itemText(i) for i in range(choice.count())] == ["Browser", "Terminal"]
    assert choice.currentData() is ResumeTarget.BROWSER
    choice.setCurrentIndex(1)
    type_into(dialog, "terminal_command", "kitty --single-instance")
    type_into(dialog, "stop_grace_s", "0")
    type_into(dialog, "hung_restart_after_s", "90")
    type_into(dialog, "restart_backoff_min_s", "0.5")
    type_into(dialog, "restart_backoff_max_s", "120")
    type_into(dialog, "keyring_timeout_s", "15")
    assert restart_note(dialog) is None
    apply(dialog).click()
    assert applied == [
        Settings(
            resume_target=ResumeTarget.TERMINAL,
            terminal_command="kitty --single-instance",
            stop_grace_s=0.0,
            hung_restart_after_s=90.0,
            restart_backoff_min_s=0.5,
            restart_backoff_max_s=120.0,
            keyring_timeout_s=15.0,
        )
    ]


async def test_a_page_with_a_bad_field_is_marked(make: Make) -> None:
    dialog = make()
    pages = dialog.findChild(QTabWidget, "pages")
    assert pages is not None
    assert pages.currentIndex() == 0
    assert pages.tabIcon(1).isNull()
    type_into(dialog, "keyring_timeout_s", "0")
    assert not pages.tabIcon(1).isNull()
    assert pages.tabToolTip(1) == "A setting here needs fixing"
    assert pages.tabIcon(0).isNull()
    assert not ok(dialog).isEnabled()
    type_into(dialog, "keyring_timeout_s", "30")
    assert pages.tabIcon(1).isNull()
    assert ok(dialog).isEnabled()


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("port", "70000", "Must be a whole number from 0 to 65535."),
        ("port", "http", "Must be a whole number from 0 to 65535."),
        ("port", "", "Must be a whole number from 0 to 65535."),
        ("startup_timeout_s", "-1", "Must be more than 0 seconds."),
        (
            "heartbeat_timeout_s",
            "10",
            "Must be more than 10 seconds (the server sends a heartbeat every 10 s).",
        ),
        ("reconnect_max_s", "0", "Must be more than 0 seconds."),
        ("crash_loop_limit", "0", "Must be a whole number from 1 to 1000."),
        ("crash_loop_limit", "2.5", "Must be a whole number from 1 to 1000."),
        ("crash_loop_window_s", "five", "Must be a number, more than 0 seconds."),
        ("notification_grace_s", "-2", "Must be at least 0 seconds."),
        ("notification_grace_s", "1e9", "Must be at most 86400 seconds."),
        ("working_directory", "/no/such/folder", "No such folder."),
        (
            "extra_env",
            "OPENCODE_SERVER_PASSWORD=hunter2",
            "Line 1: OPENCODE_SERVER_PASSWORD cannot be set here: the app sets it from the "
            "keyring.",
        ),
        ("extra_env", "A=1\nJUST_A_NAME", "Line 2: write NAME=value."),
        ("extra_env", "A=1\n# a comment\nA=2", "Line 3: A is set twice."),
        ("extra_env", "MY VAR=1", "Line 1: 'MY VAR' is not a variable name (no spaces, no '=')."),
    ],
)
async def test_a_bad_field_says_why_and_blocks_ok_until_fixed(
    make: Make, name: str, bad: str, message: str
) -> None:
    dialog = make()
    applied = record(dialog.applied)
    good = env_box(dialog).toPlainText() if name == "extra_env" else edit(dialog, name).text()
    type_into(dialog, name, bad)
    assert error(dialog, name) == message
    assert not ok(dialog).isEnabled()
    assert not apply(dialog).isEnabled()
    assert dialog.edited() is None
    others = [n for n in ("port", "heartbeat_timeout_s", "extra_env") if n != name]
    assert all(error(dialog, other) is None for other in others)
    ok(dialog).click()
    assert dialog.isVisible()
    type_into(dialog, name, good)
    assert error(dialog, name) is None
    assert ok(dialog).isEnabled()
    assert applied == []


async def test_every_bad_field_must_be_fixed(make: Make) -> None:
    dialog = make()
    port = edit(dialog, "port")
    port.clear()
    QTest.keyClicks(port, "99999")
    type_into(dialog, "heartbeat_timeout_s", "5")
    assert error(dialog, "port") is not None
    assert error(dialog, "heartbeat_timeout_s") is not None
    QTest.keyClick(port, Qt.Key.Key_Backspace)
    assert error(dialog, "port") is None
    assert not ok(dialog).isEnabled()
    type_into(dialog, "heartbeat_timeout_s", "15")
    assert ok(dialog).isEnabled()
    assert apply(dialog).isEnabled()


async def test_the_dialog_grows_to_show_its_messages(make: Make) -> None:
    dialog = make()
    type_into(dialog, "extra_env", "OPENCODE_SERVER_PASSWORD=x\n")
    type_into(dialog, "heartbeat_timeout_s", "1")
    type_into(dialog, "port", "-1")
    await asyncio.sleep(0.05)
    assert dialog.height() >= dialog.heightForWidth(dialog.width())
    screen = dialog.screen().availableGeometry().height() - FRAME_ALLOWANCE
    for name in ("heartbeat_timeout_s", "extra_env"):
        reveal(dialog, name)
        await asyncio.sleep(0.05)
        assert shown_page(dialog).verticalScrollBar().maximum() == 0 or dialog.height() >= screen
    box = env_box(dialog)
    message = label(dialog, "extra_env_error")
    assert (
        message.mapTo(dialog, message.rect().topLeft()).y()
        >= box.mapTo(dialog, box.rect().bottomLeft()).y()
    )


async def test_a_page_scrolls_only_when_the_screen_is_too_short(make: Make) -> None:
    dialog = make()
    await asyncio.sleep(0.05)
    screen = dialog.screen().availableGeometry().height() - FRAME_ALLOWANCE
    assert dialog.height() <= max(screen, dialog.minimumSizeHint().height())
    for name in ("port", "stop_grace_s"):
        reveal(dialog, name)
        await asyncio.sleep(0.05)
        assert shown_page(dialog).verticalScrollBar().maximum() == 0 or dialog.height() >= screen


# -- applying ------------------------------------------------------------------------------------


async def test_apply_emits_the_new_settings_and_keeps_the_rest(make: Make, tmp_path: Path) -> None:
    settings = Settings(
        resume_target=ResumeTarget.TERMINAL,
        terminal_command="kitty",
        stop_grace_s=7.5,
        hung_restart_after_s=45.0,
        restart_backoff_min_s=2.0,
    )
    dialog = make(settings)
    applied = record(dialog.applied)
    type_into(dialog, "opencode_path", FOUND)
    type_into(dialog, "port", "0")
    type_into(dialog, "working_directory", str(tmp_path))
    type_into(dialog, "extra_env", "HTTPS_PROXY=http://p:3128\n\nEMPTY=\nSPACED = a=b \n")
    type_into(dialog, "startup_timeout_s", "120")
    type_into(dialog, "heartbeat_timeout_s", "30.5")
    type_into(dialog, "reconnect_max_s", "12")
    type_into(dialog, "crash_loop_limit", "3")
    type_into(dialog, "crash_loop_window_s", "600")
    type_into(dialog, "notification_grace_s", "0")
    check(dialog, "start_at_login").setChecked(True)
    check(dialog, "start_server_with_app").setChecked(False)
    check(dialog, "notify_incidents").setChecked(False)
    check(dialog, "notify_recovered").setChecked(False)
    check(dialog, "notify_session_finished").setChecked(True)
    apply(dialog).click()
    expected = dataclasses.replace(
        settings,
        opencode_path=FOUND,
        port=0,
        working_directory=str(tmp_path),
        extra_env={"HTTPS_PROXY": "http://p:3128", "EMPTY": "", "SPACED": " a=b "},
        startup_timeout_s=120.0,
        heartbeat_timeout_s=30.5,
        reconnect_max_s=12.0,
        crash_loop_limit=3,
        crash_loop_window_s=600.0,
        notification_grace_s=0.0,
        start_at_login=True,
        start_server_with_app=False,
        notify_incidents=False,
        notify_recovered=False,
        notify_session_finished=True,
    )
    assert applied == [expected]
    assert dialog.isVisible()
    assert not apply(dialog).isEnabled()
    type_into(dialog, "reconnect_max_s", "13")
    apply(dialog).click()
    assert applied == [expected, dataclasses.replace(expected, reconnect_max_s=13.0)]


async def test_ok_applies_and_closes(make: Make) -> None:
    dialog = make()
    applied = record(dialog.applied)
    check(dialog, "notify_session_finished").setChecked(True)
    ok(dialog).click()
    assert applied == [Settings(notify_session_finished=True)]
    assert not dialog.isVisible()
    assert dialog.result() == QDialog.DialogCode.Accepted


async def test_ok_without_changes_and_cancel_emit_nothing(make: Make) -> None:
    first = make()
    applied = record(first.applied)
    ok(first).click()
    second = make()
    applied += record(second.applied)
    type_into(second, "port", "1234")
    button(second, QDialogButtonBox.StandardButton.Cancel).click()
    assert applied == []
    assert second.result() == QDialog.DialogCode.Rejected


async def test_values_it_cannot_show_exactly_survive_untouched(make: Make) -> None:
    settings = Settings(
        heartbeat_timeout_s=10 + 0.1 + 0.2,
        startup_timeout_s=1 / 3,
        extra_env={"MULTI": "line one\nline two", "PADDED": "  x  "},
    )
    dialog = make(settings)
    assert dialog.edited() == settings
    assert error(dialog, "extra_env") is None
    applied = record(dialog.applied)
    ok(dialog).click()
    assert applied == []


# -- the restart note ----------------------------------------------------------------------------


async def test_the_restart_note_is_for_launch_fields_only(make: Make, tmp_path: Path) -> None:
    dialog = make()
    type_into(dialog, "heartbeat_timeout_s", "60")
    type_into(dialog, "notification_grace_s", "1")
    check(dialog, "start_at_login").setChecked(True)
    assert restart_note(dialog) is None
    type_into(dialog, "port", "0")
    assert restart_note(dialog) == "Changes to the port need a server restart."
    type_into(dialog, "working_directory", str(tmp_path))
    type_into(dialog, "extra_env", "A=1")
    type_into(dialog, "opencode_path", FOUND)
    assert restart_note(dialog) == (
        "Changes to the opencode binary, the port, the working folder and the extra environment "
        "need a server restart."
    )
    for name, text in [("port", "4096"), ("working_directory", ""), ("extra_env", "")]:
        type_into(dialog, name, text)
    type_into(dialog, "opencode_path", "")
    assert restart_note(dialog) is None


async def test_restart_now_applies_then_asks_for_the_restart(make: Make) -> None:
    dialog = make()
    events: list[Any] = []
    dialog.applied.connect(events.append)
    dialog.restart_requested.connect(lambda: events.append("restart"))
    type_into(dialog, "port", "0")
    restart = dialog.findChild(QPushButton, "restart_button")
    assert restart is not None
    restart.click()
    assert events == [Settings(port=0), "restart"]
    assert restart_note(dialog) is None
    assert not apply(dialog).isEnabled()
    assert dialog.isVisible()


async def test_an_applied_launch_change_waits_for_a_restart(make: Make) -> None:
    dialog = make()
    type_into(dialog, "port", "0")
    apply(dialog).click()
    assert restart_note(dialog) == "Changes to the port need a server restart."
    dialog.set_server_settings(Settings(port=0))
    assert restart_note(dialog) is None


async def test_a_server_started_with_older_settings_is_noted(make: Make) -> None:
    dialog = make(Settings(port=0), server_settings=Settings(port=4096))
    assert restart_note(dialog) == "Changes to the port need a server restart."


async def test_no_restart_while_a_field_is_bad(make: Make) -> None:
    dialog = make()
    restarts = record(dialog.restart_requested)
    type_into(dialog, "port", "0")
    type_into(dialog, "heartbeat_timeout_s", "x")
    restart = dialog.findChild(QPushButton, "restart_button")
    assert restart is not None
    assert not restart.isEnabled()
    restart.click()
    assert restarts == []


# -- the binary check ----------------------------------------------------------------------------


def binary_status(dialog: SettingsDialog) -> str:
    return label(dialog, "binary_status").text()


async def test_the_binary_check_says_found_or_why_not(make: Make) -> None:
    checker = FakeChecker()
    dialog = make(checker=checker)
    await wait_until(
        lambda: binary_status(dialog) == "Found opencode 1.18.33",
        "the binary status 'Found opencode 1.18.33'",
        5,
        0.01,
    )
    assert checker.calls == [""]
    type_into(dialog, "opencode_path", "/nope/opencode")
    assert binary_status(dialog) == "Checking..."
    await wait_until(
        lambda: binary_status(dialog) == "/nope/opencode: not found",
        "the binary status '/nope/opencode: not found'",
        5,
        0.01,
    )
    assert "#c62828" in label(dialog, "binary_status").styleSheet()
    assert ok(dialog).isEnabled()  # a binary not installed yet is allowed, and said
    type_into(dialog, "opencode_path", FOUND)
    await wait_until(
        lambda: binary_status(dialog) == "Found opencode 1.18.33",
        "the binary status 'Found opencode 1.18.33'",
        5,
        0.01,
    )


async def test_a_stale_check_is_cancelled(make: Make) -> None:
    checker = FakeChecker(slow=frozenset({"/slow/opencode"}))
    dialog = make(checker=checker)
    await wait_until(lambda: checker.calls == [""], "the checks ['']", 5, 0.01)
    type_into(dialog, "opencode_path", "/slow/opencode")
    await wait_until(
        lambda: checker.calls[-1] == "/slow/opencode", "a check of /slow/opencode", 5, 0.01
    )
    type_into(dialog, "opencode_path", FOUND)
    await wait_until(
        lambda: binary_status(dialog) == "Found opencode 1.18.33",
        "the binary status 'Found opencode 1.18.33'",
        5,
        0.01,
    )
    assert checker.cancelled == ["/slow/opencode"]


async def test_typing_is_checked_once_it_pauses(make: Make) -> None:
    checker = FakeChecker()
    dialog = make(checker=checker, check_delay_ms=50)
    await wait_until(lambda: checker.calls == [""], "the checks ['']", 5, 0.01)
    for end in range(1, len(FOUND) + 1):
        type_into(dialog, "opencode_path", FOUND[:end])
    await wait_until(
        lambda: binary_status(dialog) == "Found opencode 1.18.33",
        "the binary status 'Found opencode 1.18.33'",
        5,
        0.01,
    )
    assert checker.calls == ["", FOUND]


async def test_closing_cancels_the_check(make: Make) -> None:
    checker = FakeChecker(slow=frozenset({""}))
    dialog = make(checker=checker)
    await wait_until(lambda: checker.calls == [""], "the checks ['']", 5, 0.01)
    dialog.reject()
    await wait_until(lambda: checker.cancelled == [""], "the check of '' cancelled", 5, 0.01)


async def test_opening_again_checks_again(make: Make) -> None:
    checker = FakeChecker()
    dialog = make(checker=checker)
    await wait_until(lambda: checker.calls == [""], "the checks ['']", 5, 0.01)
    dialog.reject()
    dialog.show()
    await wait_until(lambda: checker.calls == ["", ""], "the checks ['', '']", 5, 0.01)


async def test_any_checker_failure_is_shown(make: Make) -> None:
    async def broken(path: str) -> str:
        raise RuntimeError

    dialog = make(checker=broken)
    await wait_until(
        lambda: binary_status(dialog) == "RuntimeError", "the binary status 'RuntimeError'", 5, 0.01
    )


async def test_the_real_binary_is_found(qtbot: QtBot, opencode_binary: str) -> None:
    """The app's own check against the real binary. `opencode --version` takes seconds on a
    loaded machine: the probe and the wait for its answer are generous."""

    async def patient(path: str) -> str:
        return await check_binary(path, timeout_s=SLOW_PROBE_S)

    dialog = SettingsDialog(
        Settings(opencode_path=opencode_binary), checker=patient, check_delay_ms=0
    )
    qtbot.addWidget(dialog)
    dialog.show()

    async def answer() -> str:
        await wait_until(
            lambda: binary_status(dialog) != "Checking...",
            "the check to end",
            SLOW_PROBE_S + 5,
            0.01,
        )
        return binary_status(dialog)

    assert (await answer()).startswith("Found opencode 1.")
    type_into(dialog, "opencode_path", opencode_binary + "-missing")
    assert (await answer()).endswith("-missing: not found")
    type_into(dialog, "opencode_path", "")
    assert (await answer()).startswith("Found opencode 1.")


# -- browsing ------------------------------------------------------------------------------------


def browse_buttons(dialog: SettingsDialog) -> list[QPushButton]:
    return [b for b in dialog.findChildren(QPushButton) if b.text() == "Browse..."]


async def test_browse_fills_in_the_binary_and_the_folder(make: Make, tmp_path: Path) -> None:
    dialog = make()
    binary_button, folder_button = browse_buttons(dialog)
    binary_button.click()
    chooser = dialog.findChild(QFileDialog)
    assert chooser is not None
    assert chooser.isVisible()
    assert chooser.fileMode() == QFileDialog.FileMode.ExistingFile
    chooser.fileSelected.emit(FOUND)
    chooser.reject()
    assert edit(dialog, "opencode_path").text() == FOUND
    chooser.deleteLater()
    await asyncio.sleep(0.01)
    folder_button.click()
    choosers = [c for c in dialog.findChildren(QFileDialog) if c.isVisible()]
    assert len(choosers) == 1
    assert choosers[0].fileMode() == QFileDialog.FileMode.Directory
    choosers[0].fileSelected.emit(str(tmp_path))
    choosers[0].reject()
    assert edit(dialog, "working_directory").text() == str(tmp_path)
    assert error(dialog, "working_directory") is None


# -- the environment lines -----------------------------------------------------------------------


def test_environment_lines_are_parsed() -> None:
    text = "# proxy\nHTTPS_PROXY=http://p:3128\n\n  NAME = a=b \nEMPTY=\n"
    assert parse_env(text) == (
        {"HTTPS_PROXY": "http://p:3128", "NAME": " a=b ", "EMPTY": ""},
        None,
    )


def test_the_first_bad_environment_line_is_named() -> None:
    env, problem = parse_env("A=1\n=2\nB=3")
    assert env == {"A": "1"}
    assert problem == "line 2: a variable needs a name"
