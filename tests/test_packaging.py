"""Packaging files agree with the app: installer.iss (compiled only on Windows, so read here), the
PyInstaller spec (run against recording fakes), launcher entries and the icon containers."""

from __future__ import annotations

import os
import re
import runpy
import struct
import subprocess
import sys
import tomllib
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tray.cli.console import CONSOLE_TWIN, CONSOLE_TWIN_INSTALLED
from tray.platform.autostart import RUN_KEY, STARTUP_APPROVED_KEY
from tray.platform.identity import APP_ID, APP_NAME, BACKGROUND_ARG, RUN_VALUE_NAME, WINDOWS_MUTEX

REPO = Path(__file__).resolve().parents[1]
ISS = REPO / "installer.iss"
SPEC = REPO / "packaging" / "opencode-tray.spec"
USER_ENV_HOOK = REPO / "packaging" / "pyi_rth_user_env.py"
# Windows knows the installed app by this id: it must never change.
APP_GUID = "6B6267C2-B7AF-4B9B-A05D-1EA77FE4B343"
QT_KEPT = {"QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtSvg", "QtDBus"}

with (REPO / "pyproject.toml").open("rb") as _file:
    VERSION: str = tomllib.load(_file)["project"]["version"]


# installer.iss


@dataclass
class Script:
    defines: dict[str, str] = field(default_factory=dict)
    sections: dict[str, list[str]] = field(default_factory=dict)

    def expand(self, text: str) -> str:
        """Inline `{#Name}` references replaced by the defines (ISCC's /D ones stay)."""
        return re.sub(r"\{#(\w+)\}", lambda m: self.defines.get(m.group(1), m.group()), text)

    def setup(self) -> dict[str, str]:
        pairs = (line.split("=", 1) for line in self.sections["Setup"])
        return {key.strip(): self.expand(value.strip()) for key, value in pairs}

    def entries(self, section: str) -> list[dict[str, str]]:
        """`Name: "value"; Flags: a b` lines as dicts, with defines expanded."""
        out = []
        for line in self.sections[section]:
            params = re.findall(r'(\w+):\s*("(?:[^"]|"")*"|[^;]*)', line)
            out.append(
                {key: self.expand(_unquote(value.strip())) for key, value in params},
            )
        return out


def _unquote(value: str) -> str:
    if value.startswith('"') and value.endswith('"'):
        return value[1:-1].replace('""', '"')
    return value


def _read_script() -> Script:
    script = Script()
    section = ""
    for raw in ISS.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        define = re.fullmatch(r'#define\s+(\w+)\s+"([^"]*)"', line)
        if define:
            script.defines[define.group(1)] = define.group(2)
        elif re.fullmatch(r"\[\w+\]", line):
            section = line[1:-1]
            script.sections[section] = []
        elif section and not line.startswith("#"):
            script.sections[section].append(line)
    return script


@pytest.fixture(scope="module")
def iss() -> Script:
    return _read_script()


def test_installer_has_its_sections(iss: Script) -> None:
    for name in ("Setup", "Tasks", "Files", "Icons", "Registry", "Run", "Code", "InstallDelete"):
        assert iss.sections.get(name), f"[{name}] is missing or empty"


def test_installer_app_id_is_stable(iss: Script) -> None:
    assert iss.defines["AppGuid"] == APP_GUID
    assert iss.setup()["AppId"] == "{{" + APP_GUID + "}"  # "{{" is an escaped "{"


def test_installer_names_match_the_app(iss: Script) -> None:
    setup = iss.setup()
    assert setup["AppMutex"] == WINDOWS_MUTEX
    assert iss.defines["RunValueName"] == RUN_VALUE_NAME
    assert iss.defines["AppExe"] == f"{APP_NAME}.exe"
    assert iss.defines["ConsoleTwin"] == f"{CONSOLE_TWIN}.exe"
    assert iss.defines["ConsoleCom"] == CONSOLE_TWIN_INSTALLED
    assert iss.defines["RunKey"] == RUN_KEY
    assert iss.defines["StartupApprovedKey"] == STARTUP_APPROVED_KEY


def test_installer_is_per_user(iss: Script) -> None:
    setup = iss.setup()
    assert setup["PrivilegesRequired"] == "lowest"
    assert setup["DefaultDirName"].startswith("{autopf}")


def test_start_at_login_is_an_unchecked_task_writing_the_apps_run_value(iss: Script) -> None:
    (task,) = iss.entries("Tasks")
    assert "unchecked" in task["Flags"].split()
    assert iss.setup()["UsePreviousTasks"] == "no"
    writes = [e for e in iss.entries("Registry") if e.get("Tasks") == task["Name"]]
    assert writes == [
        {
            "Root": "HKCU",
            "Subkey": RUN_KEY,
            "ValueType": "string",
            "ValueName": RUN_VALUE_NAME,
            "ValueData": f'"{{app}}\\{APP_NAME}.exe" {BACKGROUND_ARG}',
            "Tasks": task["Name"],
            "Flags": "uninsdeletevalue",
        }
    ]


def test_uninstall_removes_the_run_value_however_it_was_written(iss: Script) -> None:
    startup = (RUN_KEY, STARTUP_APPROVED_KEY)
    always = [e for e in iss.entries("Registry") if "Tasks" not in e and e["Subkey"] in startup]
    removed = {(e["Subkey"], e["ValueName"]) for e in always if e["ValueType"] == "none"}
    assert removed == {(RUN_KEY, RUN_VALUE_NAME), (STARTUP_APPROVED_KEY, RUN_VALUE_NAME)}
    for entry in always:
        assert set(entry["Flags"].split()) == {"dontcreatekey", "uninsdeletevalue"}


def test_installer_version_comes_from_the_command_line(iss: Script) -> None:
    text = ISS.read_text(encoding="utf-8")
    assert "AppVersion" not in iss.defines
    assert "#ifndef AppVersion" in text
    assert iss.sections["Setup"].count("AppVersion={#AppVersion}") == 1
    assert VERSION not in text
    for line in iss.sections["Setup"]:
        assert not re.search(r"\d+\.\d+", line), f"a hard-coded version? {line}"


def test_installer_closes_the_app_before_replacing_or_removing_it(iss: Script) -> None:
    code = "\n".join(iss.sections["Code"])
    assert "CheckForMutexes('{#AppMutex}')" in code
    assert "Exec(Exe, 'quit'," in code
    for event in ("function InitializeSetup", "function InitializeUninstall"):
        body = code.split(event, 1)[1].split("end;", 1)[0]
        assert "QuitRunningApp(" in body, event
    assert iss.setup()["CloseApplications"] == "no"


def test_uninstall_keeps_user_settings(iss: Script) -> None:
    assert "UninstallDelete" not in iss.sections
    code = "\n".join(iss.sections["Code"])
    assert "DelTree" not in code
    assert "DeleteFile" not in code


def test_installer_packs_the_pyinstaller_folder(iss: Script) -> None:
    files, twin = iss.entries("Files")
    assert files["Source"] == f"dist\\{APP_NAME}\\*"
    assert "recursesubdirs" in files["Flags"].split()
    assert (REPO / iss.setup()["SetupIconFile"].replace("\\", "/")).is_file()
    # The console twin goes in under the name a terminal finds before the windowed .exe.
    assert files["Excludes"] == f"{CONSOLE_TWIN}.exe"
    assert twin["Source"] == f"dist\\{APP_NAME}\\{CONSOLE_TWIN}.exe"
    assert (twin["DestDir"], twin["DestName"]) == ("{app}", CONSOLE_TWIN_INSTALLED)
    assert CONSOLE_TWIN_INSTALLED.endswith(".com")  # .COM comes before .EXE in PATHEXT


def test_installer_puts_the_command_line_on_the_users_path(iss: Script) -> None:
    (path,) = [e for e in iss.entries("Registry") if e.get("ValueName") == "Path"]
    assert path == {
        "Root": "HKCU",
        "Subkey": "Environment",
        "ValueType": "expandsz",
        "ValueName": "Path",
        "ValueData": "{olddata};{app}",
        "Check": "NotOnPath(ExpandConstant('{app}'))",
    }
    assert iss.setup()["ChangesEnvironment"] == "yes"
    code = "\n".join(iss.sections["Code"])
    assert "function NotOnPath(const Dir: String): Boolean;" in code
    uninstall = code.split("procedure CurUninstallStepChanged", 1)[1].split("end;", 1)[0]
    assert "usPostUninstall" in uninstall
    assert "TakeOffPath(ExpandConstant('{app}'))" in uninstall
    assert "RegWriteExpandStringValue(HKCU, '{#EnvironmentKey}', 'Path', Path)" in code


def test_windows_build_passes_the_pyproject_version() -> None:
    script = (REPO / "packaging" / "build-windows.ps1").read_text(encoding="utf-8")
    assert '"/DAppVersion=$version", "installer.iss"' in script
    assert "packaging\\version.py" in script


@pytest.mark.parametrize("name", ["build-linux.sh", "build-macos.sh"])
def test_unix_build_scripts_parse(name: str) -> None:
    path = REPO / "packaging" / name
    assert path.stat().st_mode & 0o111, f"{name} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_version_script_prints_the_pyproject_version() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "version.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == VERSION


# The PyInstaller spec, run against fakes that record what it asks for.


@dataclass
class Target:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    pure: list[Any] = field(default_factory=list)
    scripts: list[Any] = field(default_factory=list)
    binaries: list[Any] = field(default_factory=list)
    datas: list[Any] = field(default_factory=list)


def _recorder(
    built: dict[str, Target], name: str, every: list[Target] | None = None
) -> Callable[..., Target]:
    """Records the last call in `built[name]`, and each one in `every`."""

    def build(*args: Any, **kwargs: Any) -> Target:
        built[name] = Target(args, kwargs)
        if every is not None:
            every.append(built[name])
        return built[name]

    return build


def _hooks() -> types.ModuleType:
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = lambda package: [(f"<data of {package}>", package)]  # type: ignore[attr-defined]
    hooks.collect_submodules = lambda package: [f"<submodules of {package}>"]  # type: ignore[attr-defined]
    hooks.copy_metadata = lambda dist: [(f"<metadata of {dist}>", ".")]  # type: ignore[attr-defined]
    return hooks


def _versioninfo() -> types.ModuleType:
    """PyInstaller's Windows version resource classes, as plain records."""
    module = types.ModuleType("PyInstaller.utils.win32.versioninfo")
    for name in (
        "FixedFileInfo",
        "StringFileInfo",
        "StringStruct",
        "StringTable",
        "VarFileInfo",
        "VarStruct",
        "VSVersionInfo",
    ):
        setattr(module, name, lambda *args, _kind=name, **kwargs: (_kind, args, kwargs))
    return module


def _run_spec(platform: str) -> tuple[dict[str, Target], list[Target]]:
    """What the spec asks PyInstaller for when run on `platform`; and every EXE."""
    built: dict[str, Target] = {}
    exes: list[Target] = []
    namespace: dict[str, Any] = {"SPECPATH": str(SPEC.parent), "__file__": str(SPEC)}
    for name in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        namespace[name] = _recorder(built, name, exes if name == "EXE" else None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "PyInstaller.utils.hooks", _hooks())
        patch.setitem(sys.modules, "PyInstaller.utils.win32.versioninfo", _versioninfo())
        patch.setattr(sys, "path", list(sys.path))
        patch.setattr(sys, "platform", platform)
        exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    return built, exes


@pytest.fixture(scope="module")
def spec() -> dict[str, Target]:
    return _run_spec(sys.platform)[0]


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_spec_builds_one_program_off_windows(platform: str) -> None:
    built, exes = _run_spec(platform)
    assert [exe.kwargs["name"] for exe in exes] == [APP_NAME]
    assert built["COLLECT"].args[0] is exes[0]


def test_spec_on_windows_adds_the_console_twin_to_the_folder() -> None:
    built, exes = _run_spec("win32")
    windowed, twin = exes
    assert (windowed.kwargs["name"], windowed.kwargs["console"]) == (APP_NAME, False)
    assert (twin.kwargs["name"], twin.kwargs["console"]) == (CONSOLE_TWIN, True)
    assert twin.args == windowed.args  # the same program: same scripts, same archive
    assert twin.kwargs["exclude_binaries"] is True
    assert built["COLLECT"].args[:2] == (windowed, twin)
    assert built["COLLECT"].kwargs["name"] == APP_NAME
    assert Path(twin.kwargs["icon"]).is_file()
    assert ("OriginalFilename", CONSOLE_TWIN_INSTALLED) in _strings(twin.kwargs["version"])
    assert ("OriginalFilename", f"{APP_NAME}.exe") in _strings(windowed.kwargs["version"])


def _strings(record: Any) -> list[tuple[str, str]]:
    """The StringStruct pairs anywhere in a version record made by `_versioninfo`."""
    if isinstance(record, tuple) and record and record[0] == "StringStruct":
        return [record[1]]
    if isinstance(record, tuple | list):
        return [pair for item in record for pair in _strings(item)]
    if isinstance(record, dict):
        return [pair for item in record.values() for pair in _strings(item)]
    return []


def test_spec_compiles_and_names_the_bundle() -> None:
    text = SPEC.read_text(encoding="utf-8")
    compile(text, str(SPEC), "exec")
    assert "LSUIElement" in text
    assert "bundle_identifier=APP_ID" in text


def test_spec_builds_one_windowed_folder(spec: dict[str, Target]) -> None:
    exe = spec["EXE"].kwargs
    assert exe["name"] == APP_NAME
    assert exe["console"] is False
    assert exe["exclude_binaries"] is True
    assert spec["COLLECT"].kwargs["name"] == APP_NAME
    (script,) = spec["Analysis"].args[0]
    assert Path(script) == REPO / "tray" / "__main__.py"


def test_spec_macos_bundle_is_a_menu_bar_app_with_the_app_id(spec: dict[str, Target]) -> None:
    bundle = spec["BUNDLE"].kwargs
    assert bundle["bundle_identifier"] == APP_ID
    assert bundle["name"] == f"{APP_NAME}.app"
    assert bundle["version"] == VERSION
    assert bundle["info_plist"]["LSUIElement"] is True
    assert bundle["info_plist"]["CFBundleShortVersionString"] == VERSION
    assert Path(bundle["icon"]).is_file()


def test_spec_keeps_only_the_qt_modules_the_app_uses(spec: dict[str, Target]) -> None:
    excludes = set(spec["Analysis"].kwargs["excludes"])
    assert "keyrings" in excludes, "keyrings.alt stores secrets in plain text: never ship it"
    excluded_qt = {
        name.removeprefix("PySide6.") for name in excludes if name.startswith("PySide6.")
    }
    assert excluded_qt
    assert not excluded_qt & QT_KEPT
    assert {"QtQml", "QtQuick"} <= excluded_qt


def test_spec_collects_resources_keyring_backends_and_notifier(spec: dict[str, Target]) -> None:
    analysis = spec["Analysis"].kwargs
    datas = {(str(src), dest) for src, dest in analysis["datas"]}
    assert (str(REPO / "resources" / "icons"), "resources/icons") in datas
    assert (str(REPO / "resources" / f"{APP_NAME}.desktop"), "resources") in datas
    assert ("<metadata of keyring>", ".") in datas
    assert ("<metadata of opencode-tray>", ".") in datas
    assert ("<data of desktop_notifier>", "desktop_notifier") in datas
    assert "<submodules of keyring.backends>" in analysis["hiddenimports"]
    if sys.platform == "linux":
        assert "desktop_notifier.backends.dbus" in analysis["hiddenimports"]


def test_spec_runs_the_user_environment_hook(spec: dict[str, Target]) -> None:
    assert spec["Analysis"].kwargs["runtime_hooks"] == [str(USER_ENV_HOOK)]


@pytest.mark.parametrize("user_library_path", ["/usr/local/lib", None])
def test_runtime_hook_gives_started_programs_the_users_environment(
    monkeypatch: pytest.MonkeyPatch, user_library_path: str | None
) -> None:
    bundle = "/opt/opencode-tray/_internal"
    if user_library_path is None:
        monkeypatch.setenv("LD_LIBRARY_PATH", bundle)
        monkeypatch.delenv("LD_LIBRARY_PATH_ORIG", raising=False)
    else:  # the bootloader's way: the bundle first, the user's value kept under _ORIG
        monkeypatch.setenv("LD_LIBRARY_PATH", f"{bundle}:{user_library_path}")
        monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", user_library_path)
    monkeypatch.setenv("_PYI_ARCHIVE_FILE", "/opt/opencode-tray/opencode-tray")
    monkeypatch.setenv("_PYI_PARENT_PROCESS_LEVEL", "1")
    monkeypatch.setenv("QT_PLUGIN_PATH", "/home/me/qt-plugins")
    monkeypatch.delenv("QT_PLUGIN_PATH_ORIG", raising=False)
    monkeypatch.delenv("QML2_IMPORT_PATH", raising=False)
    monkeypatch.setenv("QML2_IMPORT_PATH_ORIG", "/left/over/by/a/parent")

    runpy.run_path(str(USER_ENV_HOOK))

    assert os.environ.get("LD_LIBRARY_PATH") == user_library_path
    assert "LD_LIBRARY_PATH_ORIG" not in os.environ
    assert not [name for name in os.environ if name.startswith("_PYI_")]
    # For the app to restore once PySide6's hook has pointed them at the bundle.
    assert os.environ["QT_PLUGIN_PATH_ORIG"] == "/home/me/qt-plugins"
    assert "QML2_IMPORT_PATH_ORIG" not in os.environ


def test_spec_takes_its_version_from_pyproject() -> None:
    assert VERSION not in SPEC.read_text(encoding="utf-8")


# Launcher entry and icon containers.


def test_the_launcher_entry_validates_and_names_the_app() -> None:
    path = REPO / "resources" / f"{APP_NAME}.desktop"
    result = subprocess.run(
        ["desktop-file-validate", str(path)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert f"Exec={APP_NAME}" in lines
    assert f"Icon={APP_NAME}" in lines


def _hicolor_png(size: int) -> bytes:
    return (REPO / "resources/icons/hicolor" / f"{size}x{size}/apps/{APP_NAME}.png").read_bytes()


def test_windows_icon_holds_the_app_icon_renders() -> None:
    data = (REPO / "packaging" / f"{APP_NAME}.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind) == (0, 1)
    images = {}
    for index in range(count):
        width, _, _, _, _, _, length, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * index)
        images[width or 256] = data[offset : offset + length]
    assert {16, 32, 48, 256} <= images.keys()
    assert all(png.startswith(b"\x89PNG") for png in images.values())
    assert images[256] == _hicolor_png(256)
    assert images[32] == _hicolor_png(32)


def test_macos_icon_holds_the_app_icon_renders() -> None:
    data = (REPO / "packaging" / f"{APP_NAME}.icns").read_bytes()
    assert data[:4] == b"icns"
    assert struct.unpack_from(">I", data, 4)[0] == len(data)
    elements, offset = {}, 8
    while offset < len(data):
        kind, length = data[offset : offset + 4], struct.unpack_from(">I", data, offset + 4)[0]
        elements[kind] = data[offset + 8 : offset + length]
        offset += length
    assert {b"ic07", b"ic08", b"ic09", b"ic10"} <= elements.keys()
    assert elements[b"ic08"] == _hicolor_png(256)
    assert elements[b"ic09"] == _hicolor_png(512)


# The release workflow (.github/workflows/release.yml; actionlint checks it in ./dev test).


def test_release_workflow_builds_each_package_with_its_script_on_a_tag() -> None:
    text = (REPO / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8")
    assert 'tags: ["v*"]' in text
    for script in ("build-linux.sh", "build-macos.sh", "build-windows.ps1"):
        assert re.search(rf"packaging[/\\]{re.escape(script)}", text), script
    for made in ("-linux-*.tar.gz", "-macos-*.zip", "-setup.exe"):
        assert f"dist/{APP_NAME}-*{made}" in text, made
    assert "python -m build" in text
