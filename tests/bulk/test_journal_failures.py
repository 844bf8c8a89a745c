"""Journal failures (#10 item 4): a read-only file, a full disk, a locked database surface as a
typed error of the run, never a hang, and lose nothing already recorded; setup and teardown
leak no thread under cancellation."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from d360_async import (
    D360Client,
    JournalError,
    LimiterUnavailableError,
    Scope,
    SQLiteJournal,
)
from d360_async.testing import Emulator

from .conftest import number, welcome

pytestmark = pytest.mark.timeout(60)


def journal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("d360-journal")]


async def no_journal_thread_left() -> None:
    for _ in range(200):
        if not journal_threads():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"journal threads left running: {journal_threads()}")


def rows(path: Path) -> Counter[str]:
    with sqlite3.connect(path) as conn:
        return Counter(status for (status,) in conn.execute("SELECT status FROM messages"))


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process's write lock on the journal (``BEGIN EXCLUSIVE``)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


async def test_a_read_only_journal_is_a_typed_error_before_any_request(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    await client.send_bulk(welcome(10), journal=path).run()
    # The file refuses writes as a read-only file does (root ignores file modes, so the
    # test asks SQLite itself to refuse them: the same SQLITE_READONLY error).
    read_only = SQLiteJournal(path, pragmas={"query_only": "ON"})
    with pytest.raises(JournalError, match=r"readonly|read-only"):
        await client.send_bulk(welcome(20), journal=read_only).run()
    assert emu.requests["send-marketing-message"] == 10
    assert rows(path) == {"sent": 10}
    await no_journal_thread_left()


async def test_a_full_disk_stops_the_run_with_a_typed_error_and_loses_nothing(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    # SQLite's max_page_count makes the file "full" as a full disk does (SQLITE_FULL).
    full = SQLiteJournal(path, pragmas={"max_page_count": 12})
    run = client.send_bulk(welcome(5_000), journal=full, concurrency=20)
    with pytest.raises(JournalError, match="full"):
        await run.run()
    report = run.report
    assert report.interrupted and report.stopped is not None and "journal" in report.stopped
    recorded = rows(path)
    assert 0 < sum(recorded.values()) < 5_000
    accepted = emu.accepted_counts()
    assert set(accepted.values()) == {1}
    # Nothing recorded was lost: every row recorded sent was accepted, and nothing accepted
    # is missing from the journal (it is sent, or pending: a re-run reports it unknown).
    assert recorded["sent"] <= len(accepted) <= recorded["sent"] + recorded["pending"]
    await no_journal_thread_left()
    # With room again, the campaign resumes and nobody gets a second message.
    final = await client.send_bulk(welcome(5_000), journal=path).run()
    assert final.sent + final.skipped + final.unknown == 5_000
    assert set(emu.accepted_counts().values()) == {1}
    assert len(emu.accepted_counts()) >= 5_000 - final.unknown


async def test_a_locked_journal_is_a_typed_error_not_a_hang(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    await client.send_bulk(welcome(10), journal=path).run()
    with locked(path):
        journal = SQLiteJournal(path, busy_timeout=0.2)
        with pytest.raises(JournalError, match="locked"):
            await client.send_bulk(welcome(20), journal=journal).run()
    assert emu.requests["send-marketing-message"] == 10
    await no_journal_thread_left()


@pytest.mark.d360_emulator(rate=None, latency_ms=2)
async def test_a_journal_locked_mid_run_stops_it_with_a_typed_error(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    async with D360Client(
        d360_emulator.api_key, base_url=d360_emulator.url, rate_limit=None
    ) as client:
        journal = SQLiteJournal(path, busy_timeout=0.2)
        run = client.send_bulk(welcome(20_000), journal=journal, concurrency=10)
        task = asyncio.create_task(run.run())
        while len(d360_emulator.sent_messages) < 200:  # noqa: ASYNC110 (polling the emulator)
            await asyncio.sleep(0.005)
        with locked(path):
            with pytest.raises(JournalError, match="locked"):
                await task
            sent_at_failure = len(d360_emulator.sent_messages)
            await asyncio.sleep(0.1)
            assert len(d360_emulator.sent_messages) == sent_at_failure
    assert run.report.interrupted
    await no_journal_thread_left()


async def test_cancelling_while_the_journal_opens_or_closes_leaks_no_thread(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    for steps in range(12):
        path = tmp_path / f"j{steps}.sqlite"
        task = asyncio.create_task(client.send_bulk(welcome(30), journal=path).run())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await no_journal_thread_left()
    assert journal_threads() == []


async def test_cancelling_while_sends_wait_for_the_limiter_then_a_plain_resume_reaches_all(
    emu: Emulator, tmp_path: Path
) -> None:
    """Acceptance: Ctrl-C while sends wait for the limiter; a plain resume reaches every
    recipient, none twice."""
    path = tmp_path / "j.sqlite"
    n = 400
    async with D360Client(emu.api_key, base_url=emu.url, rate_limit=40) as slow:
        task = asyncio.create_task(slow.send_bulk(welcome(n), journal=path, concurrency=50).run())
        while len(emu.sent_messages) < 20:  # noqa: ASYNC110 (polling the emulator)
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    first = rows(path)
    assert first["pending"] == 0
    # Most of the 50 workers were waiting for a token: not one of them is "unknown".
    assert first["unknown"] <= 10
    async with D360Client(emu.api_key, base_url=emu.url, rate_limit=None) as fast:
        report = await fast.send_bulk(welcome(n), journal=path).run()
    await asyncio.sleep(0.05)  # requests the cancelled run abandoned have reached the emulator
    assert report.sent + report.skipped + report.unknown == n
    assert emu.accepted_counts() == {number(i): 1 for i in range(n)}


class FailingLimiter:
    """A shared limiter whose store goes away after ``good`` slots (as Redis stopping)."""

    def __init__(self, good: int) -> None:
        self.good = good

    async def acquire(self, scope: Scope, *, key: str | None = None) -> None:
        if scope is Scope.MESSAGES:
            if self.good <= 0:
                raise LimiterUnavailableError("the limiter's store cannot be reached")
            self.good -= 1

    async def pause(self, scope: Scope, seconds: float) -> None:
        pass


@pytest.mark.d360_emulator(rate=None, latency_ms=5)
async def test_a_limiter_that_fails_mid_run_stops_it_and_a_resume_completes(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    emu = d360_emulator
    async with D360Client(emu.api_key, base_url=emu.url, rate_limit=FailingLimiter(300)) as c:
        report = await c.send_bulk(welcome(2_000), journal=path, concurrency=20).run()
    # A limiter that cannot decide is a circuit breaker: the campaign stops (its typed error in
    # ``stopped``), the messages it refused are failed, the rest skipped; nothing unlimited.
    assert report.stopped is not None
    assert "limiter" in report.stopped
    assert report.failed >= 1 and report.sent <= 300
    assert report.sent + report.failed + report.skipped + report.unknown == 2_000
    first = rows(path)
    assert first["pending"] == 0
    assert first["sent"] + first["unknown"] <= 300
    await asyncio.sleep(0.05)
    async with D360Client(emu.api_key, base_url=emu.url, rate_limit=None) as client:
        final = await client.send_bulk(welcome(2_000), journal=path).run()
    assert final.sent + final.skipped + final.unknown == 2_000
    assert emu.accepted_counts() == {number(i): 1 for i in range(2_000)}


class _RollbackFails(sqlite3.Connection):
    """A connection whose ``COMMIT`` fails from the fifth on, leaving the transaction open (as
    SQLITE_BUSY or an I/O error does), and whose ``ROLLBACK`` then raises ``error``."""

    error: BaseException = sqlite3.OperationalError("disk I/O error")
    commits = 0
    rollbacks = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        word = sql.strip().upper()
        if word == "COMMIT" and self.in_transaction:
            type(self).commits += 1
            if type(self).commits >= 5:
                raise sqlite3.OperationalError("disk I/O error")
        if word == "ROLLBACK":
            type(self).rollbacks += 1
            raise type(self).error
        return super().execute(sql, *args)


@pytest.mark.parametrize(
    "error",
    [sqlite3.OperationalError("disk I/O error"), MemoryError(), OSError(5, "I/O error")],
    ids=["sqlite-error", "memory-error", "os-error"],
)
async def test_a_rollback_that_raises_after_a_failed_commit_is_a_typed_error_not_a_hang(
    emu: Emulator,
    client: D360Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: BaseException,
) -> None:
    """#10 item 4: a commit fails, then the ROLLBACK itself raises: the run
    still ends with ``JournalError`` (within the test's timeout, not a hang), nobody got two
    messages, and the journal's thread is gone."""
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real_connect(*args, factory=_RollbackFails, **kwargs)

    monkeypatch.setattr(_RollbackFails, "error", error)
    monkeypatch.setattr(_RollbackFails, "commits", 0)
    monkeypatch.setattr(_RollbackFails, "rollbacks", 0)
    monkeypatch.setattr(sqlite3, "connect", connect)
    run = client.send_bulk(welcome(5_000), journal=tmp_path / "j.sqlite", concurrency=20)
    with pytest.raises(JournalError):
        await asyncio.wait_for(run.run(), 30)
    assert _RollbackFails.rollbacks >= 1  # the failing ROLLBACK was reached
    assert run.report.interrupted and run.report.stopped is not None
    assert set(emu.accepted_counts().values()) <= {1}
    await no_journal_thread_left()
