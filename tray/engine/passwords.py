"""The server's passwords: the public one clients sign in with (the keyring's), one kept for
the server's next start, and behind a front door the private one of each start, which only the
engine and the door know."""

from __future__ import annotations

from tray.core.door.phases import Credentials
from tray.engine.server_password import ServerPassword, generate
from tray.runtime import logs


class Passwords:
    """`generation` goes up with each new public password (or username): a front door ends what
    the old credentials opened."""

    def __init__(self, public: ServerPassword) -> None:
        self.public = public
        self.generation = 0
        self.private: Credentials | None = None  # the running server's, behind a front door
        self._next: ServerPassword | None = None  # for the server's next start

    def use(self, password: ServerPassword, *, now: bool) -> None:
        """`password` from now on (`now`: every request sends it), or from the next start."""
        if now:
            self._replace(password)
        else:
            self._next = password

    def renamed(self) -> None:
        """The username changed: clients sign in anew."""
        self.generation += 1

    def next_start(self) -> None:
        """A server is about to start: the password kept for it takes over."""
        if self._next is not None:
            self._replace(self._next)

    def new_private(self, username: str) -> Credentials:
        """A password of its own for the server starting behind a front door."""
        self.private = Credentials(username, generate())
        logs.secret_filter.hide(self.private.username, self.private.password, "private")
        return self.private

    def _replace(self, password: ServerPassword) -> None:
        if password.value != self.public.value:
            self.generation += 1
        self.public = password
        self._next = None
