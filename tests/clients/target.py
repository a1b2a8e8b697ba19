"""What a client is pointed at: a URL and the credentials a user would paste into it."""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    username: str
    password: str

    def __repr__(self) -> str:  # never print the secret by accident
        return f"Target(url={self.url!r}, username={self.username!r})"

    @property
    def basic(self) -> str:
        """The Authorization header's value."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def with_password(self, password: str) -> Target:
        return Target(self.url, self.username, password)
