"""A tiny HTTP server on 127.0.0.1 under a test's control: it records what arrived, answers
from a script, and can hold answers until the test releases them."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from . import samples

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Loopback:
    """Records every request (``arrived``: ``(method, path, 'to' of a JSON body)``), answers the
    next scripted response (``script``) or 200 with ``samples.SEND_OK``; while ``hold`` is set,
    every answer waits for ``release``."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.arrived: list[tuple[str, str, str | None]] = []
        self.headers: list[dict[str, str]] = []
        self.script: deque[web.StreamResponse | Handler] = deque()
        self.hold = False
        self.release = asyncio.Event()
        self._arrival = asyncio.Event()
        self._handler = handler
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received(self, to: str) -> bool:
        return any(a[2] == to for a in self.arrived)

    async def arrivals(self, n: int) -> None:
        """Wait until ``n`` requests have arrived."""
        while len(self.arrived) < n:
            self._arrival.clear()
            await self._arrival.wait()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        to = body.get("to") if isinstance(body, dict) else None
        self.arrived.append((request.method, request.path, to))
        self.headers.append(dict(request.headers))
        self._arrival.set()
        if self.hold:
            await self.release.wait()
        if self._handler is not None:
            return await self._handler(request)
        if self.script:
            answer = self.script.popleft()
            return answer if isinstance(answer, web.StreamResponse) else await answer(request)
        return web.json_response(samples.SEND_OK)

    async def start(self) -> Loopback:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def close(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@asynccontextmanager
async def loopback(handler: Handler | None = None) -> AsyncIterator[Loopback]:
    server = await Loopback(handler).start()
    try:
        yield server
    finally:
        await server.close()
