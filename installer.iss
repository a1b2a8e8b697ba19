; Inno Setup 6.3+ script: a per-user installer for the PyInstaller build in dist\opencode-tray\.
;
;     ISCC /DAppVersion=<version from pyproject.toml> installer.iss
;
; packaging\build-windows.ps1 builds the app and runs this. The names below must equal
; tray\identity.py (tests\test_packaging.py checks them).

#ifndef AppVersion
  #error Pass the version: ISCC /DAppVersion=1.2.3 installer.iss (packaging\build-windows.ps1 does)
#endif

#define AppName "opencode tray"
#define AppExe "opencode-tray.exe"
; tray.cli.console: the console twin PyInstaller builds, and the name it is installed under. A terminal
; finds opencode-tray.com before opencode-tray.exe (.COM comes first in PATHEXT), so
; `opencode-tray status` prints there and returns its exit code.
#define ConsoleTwin "opencode-tray-console.exe"
#define ConsoleCom "opencode-tray.com"
; Never change: Windows knows the installed app by it, and upgrades find it through it.
#define AppGuid "6B6267C2-B7AF-4B9B-A05D-1EA77FE4B343"
; tray.platform.identity.WINDOWS_MUTEX: held by the app while it runs.
#define AppMutex "opencode-tray-running"
; tray.platform.identity.RUN_VALUE_NAME: the same value the app's own "Start at login" toggle writes.
#define RunValueName "opencode-tray"
#define RunKey "Software\Microsoft\Windows\CurrentVersion\Run"
#define StartupApprovedKey "Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
#define EnvironmentKey "Environment"
#define UninstallKey "Software\Microsoft\Windows\CurrentVersion\Uninstall\{" + AppGuid + "}_is1"

[Setup]
AppId={{{#AppGuid}}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=opencode-tray developers
AppMutex={#AppMutex}
PrivilegesRequired=lowest
DefaultDirName={autopf}\opencode-tray
DisableProgramGroupPage=yes
UsePreviousTasks=no
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; The [Code] below asks the app to quit; Restart Manager would not ask it nicely.
CloseApplications=no
; {app} goes on the user's PATH, for the command line.
ChangesEnvironment=yes
SetupIconFile=packaging\opencode-tray.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2
SolidCompression=yes
OutputDir=dist
OutputBaseFilename=opencode-tray-{#AppVersion}-setup

[Tasks]
Name: "startatlogin"; Description: "Start {#AppName} when I sign in"; Flags: unchecked

[InstallDelete]
; Files of the previous version that this one no longer has.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "dist\opencode-tray\*"; DestDir: "{app}"; Excludes: "{#ConsoleTwin}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "dist\opencode-tray\{#ConsoleTwin}"; DestDir: "{app}"; DestName: "{#ConsoleCom}"; Flags: ignoreversion

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"

[Registry]
Root: HKCU; Subkey: "{#RunKey}"; ValueType: string; ValueName: "{#RunValueName}"; ValueData: """{app}\{#AppExe}"" --background"; Tasks: startatlogin; Flags: uninsdeletevalue
; Uninstall removes the value even when the app's own toggle wrote it, and Task Manager's record.
Root: HKCU; Subkey: "{#RunKey}"; ValueType: none; ValueName: "{#RunValueName}"; Flags: dontcreatekey uninsdeletevalue
Root: HKCU; Subkey: "{#StartupApprovedKey}"; ValueType: none; ValueName: "{#RunValueName}"; Flags: dontcreatekey uninsdeletevalue
; The command line on PATH (taken off again by the uninstaller, in [Code]).
Root: HKCU; Subkey: "{#EnvironmentKey}"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Check: NotOnPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\{#AppExe}"; Description: "Start {#AppName} now"; Flags: nowait postinstall skipifsilent

; Settings and logs live outside {app} (in %LOCALAPPDATA%\opencode-tray) and stay on uninstall.

[Code]
const
  QuitTimeoutMs = 30000;

function AppRunning: Boolean;
begin
  Result := CheckForMutexes('{#AppMutex}');
end;

{ Asks a running app to quit the way its menu does (it stops the server first), then waits for it
  to exit. Anything still running then meets Setup's own AppMutex prompt. }
procedure QuitRunningApp(const Exe: String);
var
  ResultCode, Waited: Integer;
begin
  if not AppRunning or (Exe = '') or not FileExists(Exe) then
    Exit;
  Log('Asking the running app to quit: ' + Exe);
  Exec(Exe, 'quit', '', SW_HIDE, ewWaitUntilTerminated, ResultCode);
  Waited := 0;
  while AppRunning and (Waited < QuitTimeoutMs) do begin
    Sleep(250);
    Waited := Waited + 250;
  end;
end;

function InstalledExe: String;
var
  Dir: String;
begin
  Result := '';
  if RegQueryStringValue(HKCU, '{#UninstallKey}', 'InstallLocation', Dir) then
    Result := AddBackslash(Dir) + '{#AppExe}';
end;

{ Where Dir is in the user's Path (1-based, in ';' + Path + ';'), 0 when it is not. }
function PathPosition(const Path, Dir: String): Integer;
begin
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';');
end;

function NotOnPath(const Dir: String): Boolean;
var
  Path: String;
begin
  if not RegQueryStringValue(HKCU, '{#EnvironmentKey}', 'Path', Path) then
    Path := '';
  Result := PathPosition(Path, Dir) = 0;
end;

procedure TakeOffPath(const Dir: String);
var
  Path: String;
  At: Integer;
begin
  if not RegQueryStringValue(HKCU, '{#EnvironmentKey}', 'Path', Path) then
    Exit;
  At := PathPosition(Path, Dir);
  if At = 0 then
    Exit;
  { Drops Dir with the ';' before it (or after it, when it comes first). }
  if At = 1 then
    Delete(Path, 1, Length(Dir) + 1)
  else
    Delete(Path, At - 1, Length(Dir) + 1);
  RegWriteExpandStringValue(HKCU, '{#EnvironmentKey}', 'Path', Path);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
    TakeOffPath(ExpandConstant('{app}'));
end;

{ Runs before Setup checks AppMutex. }
function InitializeSetup: Boolean;
begin
  QuitRunningApp(InstalledExe);
  Result := True;
end;

{ Runs before Uninstall checks AppMutex. }
function InitializeUninstall: Boolean;
begin
  QuitRunningApp(ExpandConstant('{app}\{#AppExe}'));
  Result := True;
end;
