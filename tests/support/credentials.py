"""Credentials and passwords for tests: the front door's (what clients are given, what the
server behind it gets) and a server password kept in memory only."""

from __future__ import annotations

from tray.core.door.phases import Credentials
from tray.engine.server_password import USERNAME, ServerPassword, generate

PUBLIC = Credentials(USERNAME, "public-password")
PRIVATE = Credentials(USERNAME, "private-password")


def fresh_password() -> ServerPassword:
    """A new random server password, kept in memory only (as without a keyring)."""
    return ServerPassword(generate(), persistent=False)
