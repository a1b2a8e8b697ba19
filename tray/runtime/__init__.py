"""What every part of the app runs on: background tasks, logging, the main-thread garbage
collector and the PySide6 import patch."""
