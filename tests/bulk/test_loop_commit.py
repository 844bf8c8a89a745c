"""The last kill window of the crash loop (issue #10): a message's ``pending`` row is committed
by the event loop itself, right before its request's last byte, with no turn of the loop in
between; a row put back after a refusal is committed before the retry's pause.

Committed from the journal's thread instead, the row came back to the request through the
loop (0.7-5 ms on a busy one, ``benchmarks/bench_crash.py gap``): a SIGKILL there left the row
``pending`` and the server a request cut short, a recipient never messaged. Deterministic: the
tests count turns of the event loop and read the file from another connection; no timing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from d360_async import D360Client, Hooks, RetryEvent, RetryPolicy, SQLiteJournal
from d360_async._wire import CURRENT, WireConnector
from d360_async.testing import Emulator

from .conftest import number, welcome

pytestmark = pytest.mark.timeout(60)


def rows(path: Path) -> dict[int, str]:
    """The rows as another process reads them (what a kill at this moment leaves)."""
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT idx, status FROM messages"))


class Reader:
    """Another process's connection, opened beforehand: a read takes no time to start."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)

    def rows(self) -> dict[int, str]:
        return dict(self.conn.execute("SELECT idx, status FROM messages"))


class Turns:
    """Counts the turns of the event loop (a callback that schedules itself again)."""

    def __init__(self) -> None:
        self.count = 0
        self._handle: asyncio.Handle | None = None

    def _tick(self) -> None:
        self.count += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def __enter__(self) -> Turns:
        self._tick()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.cancel()


async def test_mark_pending_commits_without_giving_the_loop_a_turn(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = SQLiteJournal(path)
    await journal.open("c")
    try:
        journal.record(0, "r0", "f", "sent", "wamid.0")  # waiting for the loop's next turn
        marking = journal.mark_pending(1, "r1", "f")
        with pytest.raises(StopIteration):  # done in its first step: it never suspended
            marking.send(None)
        assert rows(path) == {0: "sent", 1: "pending"}  # both durable, in one commit
    finally:
        await journal.close()


async def test_a_row_put_back_is_committed_before_restore_returns(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = SQLiteJournal(path)
    await journal.open("c")
    reader = Reader(path)
    try:
        await journal.mark_pending(0, "r0", "f")
        await journal.mark_pending(1, "r1", "f")
        journal.restore(0, None)  # it had no row
        assert reader.rows() == {1: "pending"}
        journal.restore(1, None)
        assert reader.rows() == {}
    finally:
        reader.conn.close()
        await journal.close()


async def test_no_turn_of_the_loop_between_the_pending_commit_and_the_last_byte(
    tmp_path: Path,
) -> None:
    """For every send of a run: the loop's turn when ``mark_pending`` started and when the
    request's last byte went to the socket are the same turn."""
    at_commit: dict[int, int] = {}
    at_last_byte: dict[int, int] = {}
    turns = Turns()

    class Observed(SQLiteJournal):
        async def mark_pending(self, index: int, recipient: str, fingerprint: str) -> None:
            at_commit[index] = turns.count
            await super().mark_pending(index, recipient, fingerprint)

    async def chunk_sent(session: object, context: object, params: Any) -> None:
        state = CURRENT.get()
        if state is not None and state.hook is not None and len(params.chunk) == 1:
            at_last_byte[state.hook.index] = turns.count  # type: ignore[attr-defined]

    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(chunk_sent)
    with turns:
        async with (
            Emulator(rate=None, latency_ms=2) as emu,
            aiohttp.ClientSession(
                connector=WireConnector(limit=20), trace_configs=[trace]
            ) as session,
            D360Client(emu.api_key, base_url=emu.url, rate_limit=None, session=session) as client,
        ):
            report = await client.send_bulk(
                welcome(300), journal=Observed(tmp_path / "j.sqlite"), concurrency=20
            ).run()
    assert report.sent == 300
    assert set(at_commit) == set(at_last_byte) == set(range(300))
    late = {i: at_last_byte[i] - at_commit[i] for i in at_commit if at_last_byte[i] != at_commit[i]}
    assert late == {}


@pytest.mark.d360_emulator(rate=None, faults=["503"])
async def test_a_refused_send_is_put_back_before_its_retry_waits(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    """The first request is answered 503 (not acted upon): when the retry's pause begins (the
    ``on_retry`` hook), the file already says the message was never written."""
    path = tmp_path / "j.sqlite"
    seen: list[dict[int, str]] = []
    reader: list[Reader] = []

    async def on_retry(event: RetryEvent) -> None:
        seen.append(reader[0].rows())

    async def on_request(event: object) -> None:  # the file exists: open the reader now
        if not reader:
            reader.append(Reader(path))

    async with D360Client(
        d360_emulator.api_key,
        base_url=d360_emulator.url,
        rate_limit=None,
        retry=RetryPolicy(wait=False),
        hooks=Hooks(on_request=(on_request,), on_retry=(on_retry,)),
    ) as client:
        report = await client.send_bulk(welcome(1), journal=path).run()
    reader[0].conn.close()
    assert report.sent == 1
    assert seen == [{}]
    assert rows(path) == {0: "sent"}
    assert d360_emulator.accepted_counts() == {number(0): 1}
