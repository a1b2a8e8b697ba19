"""A keyring backend that answers late, or never (tests/TESTING.md section 2):

    PYTHON_KEYRING_BACKEND=tests.slow_keyring.SlowKeyring

The first call in a process waits, as for an unlock prompt (setting `asked`): until `gate` is set
(in-process tests set it), until the file $SLOW_KEYRING_GATE_FILE exists (a child process
answers when the test says), or for $SLOW_KEYRING_DELAY_S seconds, else forever; the calls
after it answer at once. It keeps passwords in the JSON file
$SLOW_KEYRING_FILE (default: slow-keyring.json in $HOME), so a test can read what was stored.
With $SLOW_KEYRING_FAIL set every call fails, as a locked keyring does when its prompt is
cancelled.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked

gate = threading.Event()
asked = threading.Event()  # a call has started waiting, in this process


def _store() -> Path:
    return Path(os.environ.get("SLOW_KEYRING_FILE") or Path.home() / "slow-keyring.json")


def _wait() -> None:
    if not asked.is_set():
        asked.set()
        opens = os.environ.get("SLOW_KEYRING_GATE_FILE")
        delay = os.environ.get("SLOW_KEYRING_DELAY_S")
        if opens:
            while not gate.is_set() and not Path(opens).exists():
                time.sleep(0.05)
        else:
            gate.wait(float(delay) if delay else None)
    if os.environ.get("SLOW_KEYRING_FAIL"):
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
