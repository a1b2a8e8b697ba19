"""The Connect a client… window, offscreen: what it shows, what each Copy copies, the password
hidden until shown (and hidden again when the window goes), and the recipes' content."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QLabel, QLineEdit, QPlainTextEdit, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from tray.ui.connect_window import HIDDEN, ConnectActions, ConnectDetails, ConnectWindow

URL = "http://127.0.0.1:4096"
SECRET = "s3cr3t-Pa55word_for-tests"


class Recorder:
    def __init__(self) -> None:
        self.copied: list[str] = []
        self.secrets: list[str] = []
        self.opened = 0
        self.password_reads = 0

    def password(self) -> str:
        self.password_reads += 1
        return SECRET

    def actions(self) -> ConnectActions:
        return ConnectActions(self.copied.append, self.secrets.append, self.open)

    def open(self) -> None:
        self.opened += 1


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make(qtbot: QtBot, recorder: Recorder, browser_signs_in: bool = True) -> ConnectWindow:
    details = ConnectDetails(URL, "opencode", recorder.password, browser_signs_in)
    window = ConnectWindow(details, recorder.actions())
    qtbot.addWidget(window)
    return window


def button(window: ConnectWindow, name: str) -> QPushButton:
    found = window.findChild(QPushButton, f"copy-{name}")
    assert isinstance(found, QPushButton), name
    return found


def tab_page(window: ConnectWindow, index: int) -> QWidget:
    page = window.tabs.widget(index)
    assert page is not None
    return page


def recipe_text(window: ConnectWindow, tab: str) -> str:
    for index in range(window.tabs.count()):
        if window.tabs.tabText(index) == tab:
            text = tab_page(window, index).findChild(QPlainTextEdit)
            assert isinstance(text, QPlainTextEdit)
            return text.toPlainText()
    raise AssertionError(f"no tab {tab!r}")


def everything_shown(window: ConnectWindow) -> str:
    fields = [field.text() for field in window.findChildren(QLineEdit)]
    recipes = [text.toPlainText() for text in window.findChildren(QPlainTextEdit)]
    return "\n".join(fields + recipes)


def test_shows_url_and_username_and_hides_the_password(qtbot: QtBot, recorder: Recorder) -> None:
    window = make(qtbot, recorder)
    assert window.url_field.text() == URL
    assert window.username_field.text() == "opencode"
    assert window.password_field.echoMode() is QLineEdit.EchoMode.Password
    assert SECRET not in everything_shown(window)
    assert recorder.password_reads == 0  # not even read until asked for
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Terminal",
        "Web app",
        "t3code",
        "JS SDK",
    ]


def test_show_reveals_the_password_everywhere_and_hiding_the_window_hides_it(
    qtbot: QtBot, recorder: Recorder
) -> None:
    window = make(qtbot, recorder)
    window.show()
    window.show_button.click()
    assert window.password_field.echoMode() is QLineEdit.EchoMode.Normal
    assert window.password_field.text() == SECRET
    assert window.show_button.text() == "Hide"
    assert SECRET in recipe_text(window, "t3code")
    window.hide()
    assert not window.show_button.isChecked()
    assert window.password_field.text() == HIDDEN
    assert SECRET not in everything_shown(window)


def test_each_copy_copies_the_real_text_secrets_apart(qtbot: QtBot, recorder: Recorder) -> None:
    window = make(qtbot, recorder)
    button(window, "url").click()
    button(window, "username").click()
    button(window, "password").click()
    assert recorder.copied == [URL, "opencode"]
    assert recorder.secrets == [SECRET]
    for tab in ("Terminal", "Web app", "JS SDK"):
        button(window, tab).click()
    button(window, "t3code").click()  # copied with the password, though it is hidden
    assert recorder.secrets[-1] == recipe_text_with_password()
    assert all(SECRET not in text for text in recorder.copied)
    assert len(recorder.copied) == 5


def recipe_text_with_password() -> str:
    settings = {"providers": {"opencode": {"serverUrl": URL, "serverPassword": SECRET}}}
    return json.dumps(settings, indent=2, ensure_ascii=False)


def test_recipes_name_the_url_and_keep_the_secret_off_command_lines(
    qtbot: QtBot, recorder: Recorder
) -> None:
    window = make(qtbot, recorder)
    attach = recipe_text(window, "Terminal")
    assert f"opencode attach {URL}" in attach
    assert (
        "read -rs OPENCODE_SERVER_PASSWORD" in attach
    )  # the password comes from a prompt, not the command line
    assert recipe_text(window, "Web app") == URL
    t3code = json.loads(recipe_text(window, "t3code"))
    assert t3code == {"providers": {"opencode": {"serverUrl": URL, "serverPassword": HIDDEN}}}
    sdk = recipe_text(window, "JS SDK")
    assert f'baseUrl: "{URL}"' in sdk
    assert "process.env.OPENCODE_SERVER_PASSWORD" in sdk


def test_open_in_browser_and_the_hint_without_a_front_door(
    qtbot: QtBot, recorder: Recorder
) -> None:
    window = make(qtbot, recorder, browser_signs_in=False)
    opener = next(b for b in window.findChildren(QPushButton) if b.text() == "Open in browser")
    opener.click()
    assert recorder.opened == 1
    hints = [label.text() for label in tab_page(window, 1).findChildren(QLabel)]
    assert any("asks for a username and a password" in hint for hint in hints), hints


def test_new_details_replace_the_old(qtbot: QtBot, recorder: Recorder) -> None:
    window = make(qtbot, recorder)
    moved = ConnectDetails("http://127.0.0.1:5000", "opencode", recorder.password, True)
    window.show_details(moved)
    assert window.url_field.text() == "http://127.0.0.1:5000"
    assert "opencode attach http://127.0.0.1:5000" in recipe_text(window, "Terminal")
