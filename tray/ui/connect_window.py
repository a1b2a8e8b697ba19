"""Connect a client…: the address, the username and the password of the app's server, and
ready-to-paste recipes for the clients people use with it (the terminal UI, the web app, t3code,
the JS SDK).

It is handed plain data (`ConnectDetails`, with the password behind a getter that is called only
when the password is shown or copied) and what to do on a click (`ConnectActions`). The password
is hidden until "Show" is pressed; every Copy copies the real text. The recipes keep the secret
out of command lines and shell history: the terminal one reads the password from a prompt, the
SDK one from the environment; only t3code's settings file needs it written in.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from PySide6.QtGui import QFont, QFontDatabase, QHideEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from tray.platform.identity import DISPLAY_NAME

HIDDEN = "•" * 12
DEFAULT_USERNAME = "opencode"  # the server's, when OPENCODE_SERVER_USERNAME is not set
RECIPE_LINES = 10


@dataclass(frozen=True)
class ConnectDetails:
    url: str  # the address clients use (the front door's, when it is on)
    username: str
    password: Callable[[], str]  # read when shown or copied, never kept
    browser_signs_in: bool  # "Open in browser" signs the browser in (the front door is on)

    def __repr__(self) -> str:  # never print the secret by accident
        return f"ConnectDetails(url={self.url!r}, username={self.username!r})"


@dataclass(frozen=True)
class ConnectActions:
    copy: Callable[[str], None]  # text with no secret in it
    copy_secret: Callable[[str], None]  # text with the password in it (cleared after a while)
    open_in_browser: Callable[[], None]


@dataclass(frozen=True)
class Recipe:
    name: str
    hint: str
    text: str
    secret: bool  # the text holds the password (a placeholder while it is hidden)


def recipes(details: ConnectDetails, password: str | None) -> list[Recipe]:
    """The recipes for `details`, with `password` written in where one needs it (None: hidden,
    a placeholder instead)."""
    url, user = details.url, details.username
    return [
        Recipe(
            "Terminal",
            "opencode's terminal UI on this server. Paste this into a terminal, then paste the "
            "password at the prompt: it is not echoed and stays out of your shell history.",
            _attach_command(url, user),
            secret=False,
        ),
        Recipe("Web app", _web_hint(details), url, secret=False),
        Recipe(
            "t3code",
            "In t3code's settings file: it connects to this server instead of starting its own.",
            _t3code_settings(url, password if password is not None else HIDDEN),
            secret=True,
        ),
        Recipe(
            "JS SDK",
            "@opencode-ai/sdk, with the password in the environment variable "
            "OPENCODE_SERVER_PASSWORD.",
            _sdk_script(url, user),
            secret=False,
        ),
    ]


def _attach_command(url: str, user: str) -> str:
    """One line, for bash and zsh alike (zsh's `read -p` is something else): pasted as several
    lines, the lines after `read` would be read as the password."""
    who = "" if user == DEFAULT_USERNAME else f"export OPENCODE_SERVER_USERNAME={user}; "
    return (
        "printf 'opencode password: '; read -rs OPENCODE_SERVER_PASSWORD; echo; "
        f"export OPENCODE_SERVER_PASSWORD; {who}opencode attach {url}"
    )


def _web_hint(details: ConnectDetails) -> str:
    if details.browser_signs_in:
        return (
            "Open in browser signs the browser in with a one-time link: no password to type. "
            f"Opening {details.url} yourself, the browser asks for the username and the password."
        )
    return (
        f"The browser asks for a username and a password: {details.username} and the password "
        "above (Copy password)."
    )


def _t3code_settings(url: str, secret: str) -> str:
    settings = {"providers": {"opencode": {"serverUrl": url, "serverPassword": secret}}}
    return json.dumps(settings, indent=2, ensure_ascii=False)


def _sdk_script(url: str, user: str) -> str:
    return (
        'import { createOpencodeClient } from "@opencode-ai/sdk/v2";\n\n'
        f'const auth = btoa("{user}:" + process.env.OPENCODE_SERVER_PASSWORD);\n'
        "const client = createOpencodeClient({\n"
        f'  baseUrl: "{url}",\n'
        "  headers: { Authorization: `Basic ${auth}` },\n"
        "});\n"
        "const events = await client.global.event();\n"
        "for await (const event of events.stream) console.log(event.payload.type);"
    )


def _mono() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


class ConnectWindow(QWidget):
    def __init__(self, details: ConnectDetails, actions: ConnectActions) -> None:
        super().__init__()
        self._details = details
        self._actions = actions
        self.setWindowTitle(f"Connect a client — {DISPLAY_NAME}")
        self.setMinimumWidth(660)
        self.url_field = self._readonly()
        self.username_field = self._readonly()
        self.password_field = self._readonly()
        self.password_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.show_button = QPushButton("Show")
        self.show_button.setCheckable(True)
        self.show_button.toggled.connect(self._reveal)
        self.tabs = QTabWidget()
        self._recipe_views: list[tuple[QLabel, QPlainTextEdit]] = []
        self._lay_out()
        self.show_details(details)

    @staticmethod
    def _readonly() -> QLineEdit:
        field = QLineEdit()
        field.setReadOnly(True)
        return field

    def _copy_button(self, name: str, copy: Callable[[], None]) -> QPushButton:
        """A Copy button; `clicked(checked)` is dropped so that `copy` gets no argument."""
        button = QPushButton("Copy")
        button.setObjectName(f"copy-{name}")
        button.setToolTip(f"Copy the {name}")
        button.clicked.connect(lambda: copy())  # noqa: PLW0108 (drops `checked`)
        return button

    def _lay_out(self) -> None:
        for index, recipe in enumerate(recipes(self._details, None)):
            self.tabs.addTab(self._recipe_page(index, recipe), recipe.name)
        layout = QVBoxLayout(self)
        layout.addLayout(self._details_form())
        layout.addWidget(QLabel("Ready to paste:"))
        layout.addWidget(self.tabs)

    def _details_form(self) -> QFormLayout:
        form = QFormLayout()
        for label, field, name, copy in (
            ("URL", self.url_field, "url", self._copy_url),
            ("Username", self.username_field, "username", self._copy_username),
        ):
            row = QHBoxLayout()
            row.addWidget(field, 1)
            row.addWidget(self._copy_button(name, copy))
            form.addRow(label, row)
        row = QHBoxLayout()
        row.addWidget(self.password_field, 1)
        row.addWidget(self.show_button)
        row.addWidget(self._copy_button("password", self._copy_password))
        form.addRow("Password", row)
        return form

    def _recipe_page(self, index: int, recipe: Recipe) -> QWidget:
        page = QWidget()
        hint = QLabel()
        hint.setWordWrap(True)
        text = QPlainTextEdit()
        text.setReadOnly(True)
        text.setFont(_mono())
        text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)  # copied unwrapped
        text.setFixedHeight(text.fontMetrics().lineSpacing() * RECIPE_LINES + 16)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        if recipe.name == "Web app":
            opener = QPushButton("Open in browser")
            opener.clicked.connect(self._actions.open_in_browser)
            buttons.addWidget(opener)
        buttons.addWidget(self._copy_button(recipe.name, partial(self._copy_recipe, index)))
        layout = QVBoxLayout(page)
        layout.addWidget(hint)
        layout.addWidget(text)
        layout.addLayout(buttons)
        self._recipe_views.append((hint, text))
        return page

    def show_details(self, details: ConnectDetails) -> None:
        """Show `details` (after a port change or a password rotation, say)."""
        self._details = details
        self.url_field.setText(details.url)
        self.username_field.setText(details.username)
        self._reveal(self.show_button.isChecked())

    def _reveal(self, shown: bool) -> None:
        self.show_button.setText("Hide" if shown else "Show")
        if shown:
            self.password_field.setEchoMode(QLineEdit.EchoMode.Normal)
            self.password_field.setText(self._details.password())
        else:
            self.password_field.setEchoMode(QLineEdit.EchoMode.Password)
            self.password_field.setText(HIDDEN)
        password = self._details.password() if shown else None
        for (hint, text), recipe in zip(
            self._recipe_views, recipes(self._details, password), strict=True
        ):
            hint.setText(recipe.hint)
            text.setPlainText(recipe.text)

    def _copy_url(self) -> None:
        self._actions.copy(self._details.url)

    def _copy_username(self) -> None:
        self._actions.copy(self._details.username)

    def _copy_password(self) -> None:
        self._actions.copy_secret(self._details.password())

    def _copy_recipe(self, index: int) -> None:
        if recipes(self._details, None)[index].secret:
            self._actions.copy_secret(recipes(self._details, self._details.password())[index].text)
        else:
            self._actions.copy(recipes(self._details, None)[index].text)

    def hideEvent(self, event: QHideEvent) -> None:
        """The password is hidden again once the window goes."""
        self.show_button.setChecked(False)
        super().hideEvent(event)
