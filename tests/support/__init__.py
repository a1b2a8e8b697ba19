"""What the tests share: waiting, the server's processes, SSE, a fake server, credentials."""
