"""Where the app meets the operating system: its names, files, bundled resources, start at login
and the diagnostics report."""
