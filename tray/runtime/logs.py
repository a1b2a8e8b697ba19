"""Logging: a rotating file in the platform log dir, secrets redacted, unhandled errors caught.

Unhandled exceptions (in Qt slots, asyncio tasks, anywhere) are logged with their traceback and
shown to the user once per distinct error, never silently swallowed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sys
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import Any

from tray.platform.paths import private_dir

LOG_FILE = "opencode-tray.log"
MAX_BYTES = 1_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

log = logging.getLogger("tray")


class SecretFilter(logging.Filter):
    """Replaces known secrets in every record, whatever logged them."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()
        self._kept: set[str] = set()  # the user's passwords, old ones included
        self._slots: dict[str, frozenset[str]] = {}  # a secret that a newer one replaces

    def hide(self, username: str, password: str, slot: str | None = None) -> None:
        """A server password, and the `?auth_token=` / Basic forms that carry it. With `slot`,
        it replaces the one hidden there before (a per-start password: one at a time)."""
        pair = f"{username}:{password}".encode()
        forms = {password}
        for token in (base64.b64encode(pair), base64.urlsafe_b64encode(pair)):
            forms.update({token.decode(), token.decode().rstrip("=")})
        if slot is None:
            self._kept.update(forms)
        else:
            self._slots[slot] = frozenset(forms)
        self.secrets = frozenset(self._kept.union(*self._slots.values()))

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            redacted = message
            for secret in self.secrets:
                redacted = redacted.replace(secret, "«redacted»")
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


secret_filter = SecretFilter()


def setup(log_dir: Path, level: int = logging.INFO) -> Path:
    """Log to `log_dir`/opencode-tray.log (rotating) and stderr; returns the file's path.

    The folder is made the user's only: the server's output in it may say more than it should."""
    path = private_dir(log_dir) / LOG_FILE
    handlers: list[logging.Handler] = [
        RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"),
        logging.StreamHandler(),
    ]
    root = logging.getLogger()
    for handler in handlers:
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(secret_filter)
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return path


class ErrorReporter:
    """Logs unhandled exceptions and shows each distinct one to the user once."""

    def __init__(self, show: Callable[[str], None]) -> None:
        self._show = show
        self._shown: set[str] = set()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        sys.excepthook = self._excepthook
        loop.set_exception_handler(self._loop_handler)

    def report(self, error: BaseException, where: str) -> None:
        log.error("unhandled error in %s", where, exc_info=error)
        key = f"{type(error).__name__}: {error}"
        if key not in self._shown:
            self._shown.add(key)
            self._show(f"{key}\n\n(in {where}; details in the log)")

    def _excepthook(
        self, kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        self.report(error.with_traceback(tb), "the user interface")

    def _loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, BaseException):
            self.report(error, str(context.get("message", "a background task")))
        else:
            log.error("asyncio: %s", context.get("message"))
