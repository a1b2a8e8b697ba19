"""A keyring backend that answers late, or never (tests/TESTING.md section 2):

    PYTHON_KEYRING_BACKEND=tests.slow_keyring.SlowKeyring

The app asks the keyring in a helper process for each call (`tray.engine.keyring_helper`), so
this is steered by files, as the app's environment says. The first call in a process waits, as
for an unlock prompt: it creates $SLOW_KEYRING_ASKED_FILE (if set), then waits until the file
$SLOW_KEYRING_GATE_FILE exists, or for $SLOW_KEYRING_DELAY_S seconds, else forever; the calls
after it answer at once. With $SLOW_KEYRING_FAIL set, or the file $SLOW_KEYRING_FAIL_FILE
there once the wait ends, every call fails, as a locked keyring does when its prompt is
cancelled. It keeps passwords in the JSON file $SLOW_KEYRING_FILE (default: slow-keyring.json in
$HOME), so a test can read what was stored.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked

waited = threading.Event()  # the first call in this process has waited


def _path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _store() -> Path:
    return _path("SLOW_KEYRING_FILE") or Path.home() / "slow-keyring.json"


def _wait() -> None:
    if not waited.is_set():
        waited.set()
        asked = _path("SLOW_KEYRING_ASKED_FILE")
        if asked is not None:
            asked.touch()
        opens = _path("SLOW_KEYRING_GATE_FILE")
        delay = os.environ.get("SLOW_KEYRING_DELAY_S")
        if opens is not None:
            while not opens.exists():
                time.sleep(0.05)
        elif delay:
            time.sleep(float(delay))
        else:
            while True:  # never answers
                time.sleep(3600)
    fails = _path("SLOW_KEYRING_FAIL_FILE")
    if os.environ.get("SLOW_KEYRING_FAIL") or (fails is not None and fails.exists()):
        raise KeyringLocked("Failed to unlock the collection!")  # the user cancelled the prompt


def _read() -> dict[str, str]:
    path = _store()
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    return data


class SlowKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service: str, username: str) -> str | None:
        _wait()
        return _read().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        _wait()
        data = _read()
        data[f"{service}/{username}"] = password
        _store().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        _wait()
        data = _read()
        data.pop(f"{service}/{username}", None)
        _store().write_text(json.dumps(data))
