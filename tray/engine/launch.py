"""How the server runs: its settings, its password, where its state is kept and the
environment it gets; the engine keeps what is fixed and follows what changes (`Engine.launch`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tray.core.settings import Settings
from tray.engine.server_password import USERNAME, ServerPassword
from tray.generations.v1 import V1


@dataclass(frozen=True)
class ServerLaunch:
    """Where and how the server runs. The engine keeps what is fixed for its life and follows
    the settings, the password and the placement as they change (`Engine.launch`)."""

    settings: Settings
    password: ServerPassword
    state_dir: Path
    binary_override: str | None = None
    base_env: Mapping[str, str] | None = None  # default: this process's environment
    # The base URL the app's HTTP client uses instead of the one the server prints (the
    # fault-injection tests put a proxy there); the status still shows the server's own URL.
    client_url: str | None = None
    # The front door's public address: then the server listens on a private port with a
    # password of its own for each start, which only the engine and the front door know.
    public_url: str | None = None
    # Where the kernel's OOM record is read instead of the server's cgroup (tests fake it).
    oom_record: Path | None = None

    def env(self) -> dict[str, str]:
        env = self.update_env()
        env[V1.password_env] = self.password.value
        env.update(V1.no_autoupdate_env)
        return env

    def update_env(self) -> dict[str, str]:
        """The user's environment for `opencode upgrade`: no server password in it."""
        env = dict(os.environ if self.base_env is None else self.base_env)
        env.update(self.settings.extra_env)
        env.pop(V1.password_env, None)
        return env

    def cwd(self) -> Path:
        return Path(self.settings.working_directory or Path.home()).expanduser()

    def username(self) -> str:
        return self.env().get(V1.username_env) or USERNAME

    def credentials(self) -> tuple[str, str]:
        return self.username(), self.password.value
