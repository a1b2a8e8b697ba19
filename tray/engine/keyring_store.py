"""The keyring calls: where the server password is kept, reading it, storing a new one.

It is kept only in a real secret store: the OS's own (Secret Service, KWallet, Keychain,
Credential Manager), or a backend the user chose for keyring explicitly
(`PYTHON_KEYRING_BACKEND`, or keyring's `keyringrc.cfg`). A backend keyring falls back to by
itself that is no secret store (keyrings.alt's files, null, fail) counts as no keyring: the app
then runs with a password for this run only, and says so.

Every function here may block for as long as the keyring waits for the user (an unlock prompt),
and keyring's backends (Secret Service's brings `cryptography`) weigh about 10 MiB: they run in
a short-lived helper process (`tray.engine.keyring_helper`), never in the app's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import keyring
import keyring.core
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

from tray.engine.server_password import ACCOUNT, SERVICE, ServerPassword, generate, per_run

# The modules of the keyring backends that are OS secret stores; any other backend keyring picks
# by itself is not trusted with the password.
SECRET_STORES = frozenset(
    {
        "keyring.backends.SecretService",  # GNOME Keyring, KeePassXC, ... over D-Bus
        "keyring.backends.libsecret",
        "keyring.backends.kwallet",
        "keyring.backends.macOS",  # the Keychain
        "keyring.backends.Windows",  # Credential Manager
    }
)

log = logging.getLogger(__name__)


def backend_name(backend: KeyringBackend) -> str:
    kind = type(backend)
    return f"{kind.__module__}.{kind.__name__}"


@dataclass(frozen=True)
class Store:
    """Where the password is kept: `backend`, or None and why not."""

    backend: KeyringBackend | None
    chosen_by_user: bool = False
    why_none: str = ""


def find_store() -> Store:
    """The backend the user chose for keyring, else the OS secret store keyring found."""
    try:
        chosen = keyring.core.load_env() or keyring.core.load_config()
    except Exception as error:  # a name that does not import, a backend that is not viable
        return Store(None, True, f"the keyring backend you chose failed: {_said(error)}")
    if chosen is not None:
        return Store(chosen, chosen_by_user=True)
    found = keyring.get_keyring()
    candidates = found.backends if isinstance(found, ChainerBackend) else [found]
    stores = [b for b in candidates if type(b).__module__ in SECRET_STORES]
    if stores:
        return Store(stores[0])
    names = ", ".join(backend_name(b) for b in candidates)
    return Store(None, why_none=f"no OS secret store found, only {names}")


def _said(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def load_or_create() -> ServerPassword:
    """The stored password, or a new one stored now; per-run when there is no keyring."""
    store = find_store()
    if store.backend is None:
        return per_run(store.why_none)
    if store.chosen_by_user:
        log.info("the server password is kept where you chose: %s", backend_name(store.backend))
    # Keyring backends raise their own exception types (D-Bus, Secret Service, Keychain): any
    # failure means "no usable keyring", which the user is told about.
    try:
        existing = store.backend.get_password(SERVICE, ACCOUNT)
        if existing:
            return ServerPassword(existing, persistent=True)
        created = generate()
        _keep(store.backend, created)
    except Exception as error:
        return per_run(_said(error))
    log.info("created a new server password in the keyring (%s)", backend_name(store.backend))
    return ServerPassword(created, persistent=True)


def _keep(backend: KeyringBackend, value: str) -> None:
    """Store `value`, and read it back: some backends (null) drop it without a word."""
    backend.set_password(SERVICE, ACCOUNT, value)
    if backend.get_password(SERVICE, ACCOUNT) != value:
        raise NotKept(f"{backend_name(backend)} did not keep the password")


class NotKept(Exception):
    pass


def rotate() -> ServerPassword:
    """Replace the stored password; the server must be restarted to use it."""
    store = find_store()
    if store.backend is None:
        return per_run(store.why_none)
    created = generate()
    try:
        _keep(store.backend, created)
    except Exception as error:
        return per_run(_said(error))
    return ServerPassword(created, persistent=True)
