"""The server password: made once, kept in the OS keyring (`tray.engine.keyring_store`), stable
across restarts.

It goes to the server only through the environment (OPENCODE_SERVER_PASSWORD), never argv,
logs or settings files; from the keyring helper process it comes through a pipe.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

SERVICE = "opencode-tray"
ACCOUNT = "server-password"
USERNAME = "opencode"

CHOOSE_HINT = (
    "Set up a keyring (GNOME Keyring, KWallet, KeePassXC's Secret Service), or choose a keyring "
    "backend yourself with PYTHON_KEYRING_BACKEND or keyring's keyringrc.cfg."
)

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


def placeholder() -> ServerPassword:
    """Stands in until the keyring answers; no server starts with it (the engine holds starts
    back until it is given the real one)."""
    return ServerPassword(generate(), persistent=False)


def per_run(reason: str) -> ServerPassword:
    """A password for this run only, with the warning that says why and what it means."""
    warning = (
        f"No keyring available ({reason}). The server password lasts for this run only: other "
        f"clients must be given the new one after each app start. {CHOOSE_HINT}"
    )
    log.warning(warning)
    return ServerPassword(generate(), persistent=False, warning=warning)
