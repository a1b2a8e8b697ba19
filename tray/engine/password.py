"""The server password: made once, kept in the OS keyring, stable across restarts.

It goes to the server only through the environment (OPENCODE_SERVER_PASSWORD), never argv,
logs or settings files. Without a keyring the app still runs, with a password for this run only.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

import keyring

SERVICE = "opencode-tray"
ACCOUNT = "server-password"
USERNAME = "opencode"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerPassword:
    value: str
    persistent: bool
    warning: str | None = None

    def __repr__(self) -> str:  # never print the secret by accident
        return f"ServerPassword(persistent={self.persistent}, warning={self.warning!r})"


def generate() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def _per_run(error: Exception) -> ServerPassword:
    warning = (
        f"No keyring available ({type(error).__name__}: {error}). The server password lasts "
        "for this run only: other clients must be given the new one after each app start."
    )
    log.warning(warning)
    return ServerPassword(generate(), persistent=False, warning=warning)


def load_or_create() -> ServerPassword:
    # Keyring backends raise their own exception types (D-Bus, Secret Service, Keychain): any
    # failure means "no usable keyring", which the user is told about.
    try:
        existing = keyring.get_password(SERVICE, ACCOUNT)
        if existing:
            return ServerPassword(existing, persistent=True)
        created = generate()
        keyring.set_password(SERVICE, ACCOUNT, created)
    except Exception as error:
        return _per_run(error)
    log.info(
        "created a new server password in the keyring (%s)", type(keyring.get_keyring()).__name__
    )
    return ServerPassword(created, persistent=True)


def rotate() -> ServerPassword:
    """Replace the stored password; the server must be restarted to use it."""
    created = generate()
    try:
        keyring.set_password(SERVICE, ACCOUNT, created)
    except Exception as error:
        return _per_run(error)
    return ServerPassword(created, persistent=True)
