"""The command line, a public contract: its arguments and the console it prints to on Windows."""
