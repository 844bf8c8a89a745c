"""An HTTP/1.1 server on 127.0.0.1 that reads requests byte by byte off a raw socket, so a test
can see how much of a request had arrived at any moment, and whether a connection ended with a
request cut short (such a request is never answered, never counted as received)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs

from . import samples


@attrs.define
class Request:
    """One request as it arrives: its connection's number, the body's declared length and the
    body bytes received so far."""

    connection: int
    length: int
    body: bytearray = attrs.field(factory=bytearray)

    @property
    def complete(self) -> bool:
        return len(self.body) == self.length


class RawServer:
    """Answers every complete request with 200 and ``samples.SEND_OK`` (or ``answer``).

    Attributes:
        requests: Every request whose headers arrived, in order, complete or not.
        cut_short: The requests whose connection ended before their body was complete.
        connections: How many connections were opened.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.cut_short: list[Request] = []
        self.connections = 0
        #: Requests (by their place in ``requests``) to cut after that many body bytes.
        self.cut_after: dict[int, int] = {}
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    @property
    def complete(self) -> list[Request]:
        return [r for r in self.requests if r.complete]

    async def until(self, predicate: object) -> None:
        """Wait until ``predicate()`` holds (re-checked whenever bytes arrive)."""
        assert callable(predicate)
        async with self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return  # the client closed an idle connection
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (line.split(":", 1) for line in lines[1:] if line)
                }
                request = Request(number, int(headers.get("content-length", "0")))
                cut = self.cut_after.get(len(self.requests))
                self.requests.append(request)
                await self._notify()
                while not request.complete:
                    if cut is not None and len(request.body) >= cut:
                        self.cut_short.append(request)
                        await self._notify()
                        return
                    chunk = await reader.read(request.length - len(request.body))
                    if not chunk:  # the connection ended with the request cut short
                        self.cut_short.append(request)
                        await self._notify()
                        return
                    request.body += chunk
                    await self._notify()
                answer = json.dumps(samples.SEND_OK).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(answer), answer)
                )
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def start(self) -> RawServer:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()


@asynccontextmanager
async def raw_server() -> AsyncIterator[RawServer]:
    server = await RawServer().start()
    try:
        yield server
    finally:
        await server.stop()
