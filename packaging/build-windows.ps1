# Build the Windows app (dist\opencode-tray\, one folder) and its installer
# (dist\opencode-tray-<version>-setup.exe, from installer.iss).
#
#   powershell -ExecutionPolicy Bypass -File packaging\build-windows.ps1 [-Python path\to\python.exe]
#
# The Python must have the app and PyInstaller installed; Inno Setup 6.3 or later must be installed
# (ISCC.exe on PATH, in $env:ISCC, or in the usual install folders).
param([string]$Python = ".venv\Scripts\python.exe")

$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)

function Invoke-Checked {
    param([string]$Program, [string[]]$Arguments)
    & $Program @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Program $Arguments failed with exit code $LASTEXITCODE" }
}

function Find-Iscc {
    $candidates = @(
        $env:ISCC,
        (Get-Command ISCC.exe -ErrorAction SilentlyContinue | Select-Object -ExpandProperty Source),
        "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe",
        "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
        "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe"
    )
    foreach ($candidate in $candidates) {
        if ($candidate -and (Test-Path $candidate)) { return $candidate }
    }
    throw "ISCC.exe (Inno Setup 6) not found: install it, or set `$env:ISCC"
}

$iscc = Find-Iscc
$version = (& $Python packaging\version.py)
if ($LASTEXITCODE -ne 0) { throw "packaging\version.py failed" }
$version = $version.Trim()

Invoke-Checked $Python @("-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", "dist",
    "--workpath", "build\pyinstaller", "packaging\opencode-tray.spec")
Invoke-Checked $iscc @("/DAppVersion=$version", "installer.iss")
Write-Output "dist\opencode-tray-$version-setup.exe"
