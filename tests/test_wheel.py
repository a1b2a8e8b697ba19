"""The wheel and sdist as a user gets them: `python -m build`, check-wheel-contents, then the wheel
installed with pip into a fresh virtualenv and with pipx, both outside the checkout, each started
on a virtual desktop against the real server: its icons, connected, `status --json`, no missing
resource, `quit` leaves nothing. pip's cache makes the installs fast (PySide6 is ~100 MB)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.desktop import VirtualDesktop
from tests.e2e.app_driver import AppDriver, project_settings
from tests.support.processes import alive
from tests.support.waiting import block_until
from tray.platform.identity import APP_ID, APP_NAME

pytestmark = [pytest.mark.e2e, pytest.mark.server, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[1]
with (REPO / "pyproject.toml").open("rb") as _file:
    VERSION: str = tomllib.load(_file)["project"]["version"]
# What could make an installed app import this checkout instead of itself.
FOREIGN_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHON_KEYRING_BACKEND")
MISSING = ("Missing resource", "Cannot open file", "Traceback", "ModuleNotFoundError")
RUNTIME_FILES = sorted(
    path.relative_to(REPO / "resources").as_posix()
    for path in [
        *(REPO / "resources" / "icons").rglob("*"),
        REPO / "resources" / f"{APP_NAME}.desktop",
    ]
    if path.is_file()
)


def _run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in args],
        env=env or _clean_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}


@dataclass
class Dist:
    wheel: Path
    sdist: Path
    seconds: float


def _not_source(folder: str, names: list[str]) -> set[str]:
    """Caches, virtualenvs, build output and node_modules: what a fresh clone lacks."""
    dropped = {"build", "dist", "node_modules", "__pycache__"}
    return {n for n in names if n.startswith(".") or n in dropped or n.endswith(".egg-info")}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """`python -m build` on a copy of the source tree, as on a fresh clone (two workers building
    in the checkout at once race on its egg-info): the sdist, then the wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    source = out / "source"
    started = time.monotonic()
    shutil.copytree(REPO, source, ignore=_not_source)
    _run(sys.executable, "-m", "build", "--outdir", out, source)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dist(wheel, sdist, time.monotonic() - started)


def test_the_wheel_carries_what_the_app_reads_and_passes_check_wheel_contents(dist: Dist) -> None:
    # W102, files beside tray/'s: those of tray/_resources/, from resources/ (checked below).
    _run(
        sys.executable, "-m", "check_wheel_contents",
        "--package", REPO / "tray", "--ignore", "W102", dist.wheel,
    )  # fmt: skip
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = wheel.namelist()
    resources = sorted(n.removeprefix("tray/_resources/") for n in names if "/_resources/" in n)
    assert resources == RUNTIME_FILES
    modules = {n for n in names if n.startswith("tray/") and "/_resources/" not in n}
    assert modules == {p.relative_to(REPO).as_posix() for p in (REPO / "tray").rglob("*.py")}
    assert {name.split("/")[0] for name in names} == {"tray", f"opencode_tray-{VERSION}.dist-info"}
    with tarfile.open(dist.sdist) as sdist:
        packed = {name.split("/", 1)[-1] for name in sdist.getnames()}
    assert {"setup.py", "pyproject.toml"} <= packed
    assert {f"resources/{name}" for name in RUNTIME_FILES} <= packed
    print(
        f"\nwheel {dist.wheel.stat().st_size / 1000:.0f} kB, {len(names)} files; "
        f"sdist {dist.sdist.stat().st_size / 1000:.0f} kB; built in {dist.seconds:.1f} s"
    )


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[VirtualDesktop]:
    with VirtualDesktop(tmp_path / "desk", keyring=True) as desktop:
        yield desktop


def _start_installed(
    script: Path, desk: VirtualDesktop, tmp_path: Path, opencode_binary: str, port: int
) -> AppDriver:
    workdir = tmp_path / "run"
    workdir.mkdir()
    settings = project_settings(desk, opencode_binary, port)
    app = AppDriver(desk, workdir, settings, command=[str(script)])
    app.env = {k: v for k, v in app.env.items() if k not in FOREIGN_ENV}
    app.start()
    return app


def _runs_connects_and_quits(app: AppDriver, desk: VirtualDesktop, home: Path) -> None:
    """Started: its icon in the tray, connected, no missing resource; `quit` leaves nothing."""
    try:
        status = app.wait_state("connected", timeout=60)
        assert status["app"]["version"] == VERSION
        service, path = block_until(app.tray_item, "the app's tray item", 30.0)
        pixmap = desk.run(
            "gdbus", "call", "--session", "--dest", service, "--object-path", path,
            "--method", "org.freedesktop.DBus.Properties.Get",
            "org.kde.StatusNotifierItem", "IconPixmap",
        )  # fmt: skip
        assert len(pixmap) > 1000, f"the tray item has no icon: {pixmap[:200]}"
        servers = app.servers()
        assert servers
        assert app.quit() == 0
    finally:
        app.kill()
    assert alive(servers) == []
    code, out = app.cli("status", "--json")
    assert (code, out.strip()) == (3, '{"schema": 1, "state": "not_running"}')
    log = "\n".join(
        p.read_text(errors="replace") for p in [app.log, *desk.home.rglob(f"{APP_NAME}.log*")]
    )
    for bad in MISSING:
        assert bad not in log, log
    left = [p.info for p in psutil.process_iter(["pid", "cmdline"]) if str(home) in str(p.info)]
    assert left == [], f"processes of the installed app left: {left}"


def test_pip_install_into_a_fresh_virtualenv_runs(
    dist: Dist, desk: VirtualDesktop, tmp_path: Path, opencode_binary: str, free_port: int
) -> None:
    venv = tmp_path / "venv"
    started = time.monotonic()
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", dist.wheel)
    installed = time.monotonic() - started
    script = "import tray.platform.resources as r; print(r.resources_root())"
    where = _run(venv / "bin" / "python", "-c", script, cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(venv), where
    assert _run(venv / "bin" / APP_NAME, "--version").strip() == f"{APP_NAME} {VERSION}"
    app = _start_installed(venv / "bin" / APP_NAME, desk, tmp_path, opencode_binary, free_port)
    _runs_connects_and_quits(app, desk, venv)
    print(f"\npip install into a fresh venv: {installed:.1f} s")


def test_pipx_install_runs_adds_a_menu_entry_and_uninstalls_cleanly(
    dist: Dist, desk: VirtualDesktop, tmp_path: Path, opencode_binary: str, free_port: int
) -> None:
    home, bin_dir, data = tmp_path / "pipx", tmp_path / "bin", tmp_path / "data"
    env = _clean_env() | {
        "PIPX_HOME": str(home),
        "PIPX_BIN_DIR": str(bin_dir),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
        "XDG_DATA_HOME": str(data),
    }
    started = time.monotonic()
    _run(sys.executable, "-m", "pipx", "install", dist.wheel, env=env)
    installed = time.monotonic() - started
    script = bin_dir / APP_NAME
    assert _run(script, "--version", env=env).strip() == f"{APP_NAME} {VERSION}"

    _run(script, "install-menu-entry", env=env)
    entry = data / "applications" / f"{APP_ID}.desktop"
    _run("desktop-file-validate", entry)
    exec_line = next(line for line in entry.read_text().splitlines() if line.startswith("Exec="))
    assert Path(exec_line.removeprefix("Exec=")).samefile(script)
    _runs_connects_and_quits(
        _start_installed(script, desk, tmp_path, opencode_binary, free_port), desk, home
    )
    _run(script, "uninstall-menu-entry", env=env)
    assert [p for p in data.rglob("*") if p.is_file()] == []
    _run(sys.executable, "-m", "pipx", "uninstall", APP_NAME, env=env)
    assert list(bin_dir.iterdir()) == []
    assert [p for p in (home / "venvs").iterdir() if p.is_dir()] == []
    print(f"\npipx install: {installed:.1f} s")
