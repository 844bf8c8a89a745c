"""The kill window between a message's ``pending`` commit and its request (issue #10, crash
loop): a journaled send writes its request up to the body's last byte, commits ``pending``,
then writes the last byte. A request cut short is never acted upon (its JSON is not even
complete, its Content-Length never reached), so:

- a kill before the commit leaves a truncated request and no ``pending`` row: a plain resume
  sends the message;
- a kill after the commit leaves the row ``pending`` (``unknown`` for the next run) and, at
  worst, a truncated request the server never acts on: never a duplicate.

Deterministic: what is checked is what the server had received when the journal held the
row, seen from inside the journal's commit; no timing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from d360_async import D360Client, RetryPolicy, SQLiteJournal
from d360_async._wire import WireConnector
from d360_async.testing import Emulator
from tests.conftest import KEY
from tests.raw_server import RawServer, raw_server

from .conftest import number, welcome

pytestmark = pytest.mark.timeout(60)

Hook = Callable[[int], Awaitable[None]]


class SimulatedKill(Exception):
    """The process dies here: nothing after this point happens."""


class ObservedJournal(SQLiteJournal):
    """A journal that runs ``before(index)`` when a ``pending`` row is about to be committed
    and ``after(index)`` once it is (the row is on disk), inside ``mark_pending``."""

    def __init__(self, path: Path, *, before: Hook | None = None, after: Hook | None = None):
        super().__init__(path)
        self.before = before
        self.after = after

    async def mark_pending(self, index: int, recipient: str, fingerprint: str) -> None:
        if self.before is not None:
            await self.before(index)
        await super().mark_pending(index, recipient, fingerprint)
        if self.after is not None:
            await self.after(index)


class Sockets(WireConnector):
    """The client's pool, keeping the transport of the last connection handed out (to cut it
    as a SIGKILL would) and the sizes of the body chunks handed to it."""

    def __init__(self) -> None:
        super().__init__()
        self.transport: Any = None
        self.chunks: list[int] = []  # the sizes of the body chunks handed to the socket

    def trace(self) -> aiohttp.TraceConfig:
        async def chunk_sent(session: object, context: object, params: Any) -> None:
            self.chunks.append(len(params.chunk))

        trace = aiohttp.TraceConfig()
        trace.on_request_chunk_sent.append(chunk_sent)
        return trace

    async def connect(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109
    ) -> Connection:
        conn = await super().connect(req, traces, timeout)
        self.transport = conn.transport
        return conn

    def kill(self) -> None:
        """What a SIGKILL does to the socket: closed at once, nothing more written."""
        assert self.transport is not None
        self.transport.abort()


@asynccontextmanager
async def client_of(url: str, api_key: str = KEY) -> AsyncIterator[tuple[D360Client, Sockets]]:
    """A client whose pool is ``Sockets`` (the client's own seam), tracing the body chunks."""
    connector = Sockets()
    async with (
        aiohttp.ClientSession(connector=connector, trace_configs=[connector.trace()]) as session,
        D360Client(
            api_key, base_url=url, rate_limit=None, session=session, retry=RetryPolicy.never()
        ) as client,
    ):
        yield client, connector


def status(path: Path, index: int) -> str | None:
    """The row of message ``index`` as another process reads it (what a crash leaves)."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT status FROM messages WHERE idx = ?", (index,)).fetchone()
    return None if row is None else str(row[0])


async def short_by_one(server: RawServer) -> None:
    """Until the server holds a request whose body lacks exactly its last byte (never, on a
    sender that writes nothing before the commit: the test's timeout ends it)."""
    await server.until(
        lambda: (
            bool(server.requests)
            and len(server.requests[-1].body) == server.requests[-1].length - 1
        )
    )


async def test_the_pending_commit_is_made_while_the_request_waits_for_its_last_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    seen: list[tuple[str | None, int, int]] = []
    async with raw_server() as server:

        async def after(index: int) -> None:
            await short_by_one(server)
            request = server.requests[-1]
            seen.append(
                (status(path, index), request.length - len(request.body), len(server.complete))
            )

        async with client_of(server.url) as (client, _):
            report = await client.send_bulk(
                welcome(1), journal=ObservedJournal(path, after=after), preflight=False
            ).run()
    # When the row was pending on disk, the server held the whole request but its last
    # byte, and had answered nothing.
    assert seen == [("pending", 1, 0)]
    assert report.sent == 1
    assert [len(r.body) == r.length for r in server.requests] == [True]
    assert status(path, 0) == "sent"


async def test_a_kill_before_the_commit_leaves_a_request_cut_short_and_a_resume_sends_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    async with raw_server() as server:
        async with client_of(server.url) as (client, sockets):

            async def before(index: int) -> None:
                await short_by_one(server)
                sockets.kill()
                raise SimulatedKill

            with pytest.raises(SimulatedKill):
                await client.send_bulk(
                    welcome(1), journal=ObservedJournal(path, before=before), preflight=False
                ).run()
        await server.until(lambda: len(server.cut_short) == 1)
        assert server.complete == []
        assert status(path, 0) is None  # no row: never written in full, a resume sends it
        async with client_of(server.url) as (client, _):
            report = await client.send_bulk(welcome(1), journal=path, preflight=False).run()
    assert report.sent == 1
    assert len(server.complete) == 1
    assert status(path, 0) == "sent"


async def test_a_kill_right_after_the_commit_leaves_it_pending_and_never_acted_upon(
    tmp_path: Path,
) -> None:
    """The window left: a kill between the commit and the last byte. The emulator gets a
    request cut short and counts no message; the row is ``pending`` (the next run reads it
    as ``unknown``): a recipient possibly not messaged, never one messaged twice."""
    path = tmp_path / "j.sqlite"
    at_kill: list[tuple[str | None, list[int]]] = []
    async with Emulator(rate=None) as emu, client_of(emu.url, emu.api_key) as (client, sockets):

        async def after(index: int) -> None:
            at_kill.append((status(path, index), list(sockets.chunks)))
            sockets.kill()

        report = await client.send_bulk(
            welcome(1), journal=ObservedJournal(path, after=after), preflight=False
        ).run()
        assert emu.sent_messages == []
        resumed = await client.send_bulk(welcome(1), journal=path, preflight=False).run()
        assert emu.sent_messages == []
    # At the kill, the row was pending and the body had gone to the socket but its last byte.
    ((row, chunks),) = at_kill
    assert row == "pending"
    assert len(chunks) == 1 and chunks[0] > 100
    assert report.unknown == 1
    assert resumed.unknown == 1 and resumed.sent == 0


async def _chunks(journaled: bool, tmp_path: Path) -> tuple[list[int], list[int]]:
    """The body chunks handed to the socket before the pending commit, and in all."""
    at_commit: list[int] = []
    async with Emulator(rate=None) as emu, client_of(emu.url, emu.api_key) as (client, sockets):

        async def after(index: int) -> None:
            at_commit.extend(sockets.chunks)

        journal = ObservedJournal(tmp_path / "j.sqlite", after=after) if journaled else None
        report = await client.send_bulk(welcome(1), journal=journal, preflight=False).run()
        assert report.sent == 1
        (message,) = emu.sent_messages
        assert message.to == number(0)
    return at_commit, sockets.chunks


async def test_a_journaled_body_goes_in_two_writes_around_the_commit(tmp_path: Path) -> None:
    at_commit, chunks = await _chunks(True, tmp_path)
    assert len(chunks) == 2 and chunks[1] == 1
    assert at_commit == chunks[:1]


async def test_a_send_without_a_journal_goes_in_one_write(tmp_path: Path) -> None:
    at_commit, chunks = await _chunks(False, tmp_path)
    assert len(chunks) == 1 and at_commit == []
