"""A tracker and a campaign write the same SQLite journal from two connections: a campaign
commits all the time, so a writer that waits for the lock must catch the gaps between its
commits (SQLite's own busy handler sleeps up to 100 ms between tries and misses them), and a
status batch that timed out must not break the tracker's journal for the next ones."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from d360_async import JournalError, SQLiteJournal
from d360_async._campaign_journal import DeliveryMatch, DeliveryUpdate

from .conftest import journal_with


@contextmanager
def busy_writer(path: Path, *, hold: float, gap: float) -> Iterator[None]:
    """Another connection taking the write lock for ``hold`` seconds, free for ``gap``, in a
    loop: a campaign's writer, committing batch after batch."""
    stop = threading.Event()

    def write() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            while not stop.is_set():
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("UPDATE meta SET value = value WHERE key = 'format'")
                time.sleep(hold)
                conn.execute("COMMIT")
                time.sleep(gap)
        finally:
            conn.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def read(message_id: str) -> DeliveryUpdate:
    return DeliveryUpdate(message_id=message_id, status="read", timestamp=time.time())


async def test_statuses_get_in_between_the_commits_of_a_busy_writer(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await journal_with(path, [(i, f"4915100000{i:03d}", "sent", f"wamid.{i}") for i in range(10)])
    journal = SQLiteJournal(path, busy_timeout=0.5)
    await journal.open(None)
    try:
        with busy_writer(path, hold=0.05, gap=0.005):
            matches = [await journal.record_deliveries([read(f"wamid.{i}")]) for i in range(10)]
        report = await journal.delivery_report()
    finally:
        await journal.close()
    assert matches == [[DeliveryMatch.MESSAGE]] * 10
    assert report.read == 10


async def test_a_status_batch_that_timed_out_does_not_break_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await journal_with(path, [(0, "4915100000000", "sent", "wamid.0")])
    journal = SQLiteJournal(path, busy_timeout=0.2)
    await journal.open(None)
    try:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(JournalError, match="locked"):
            await journal.record_deliveries([read("wamid.0")])
        blocker.execute("ROLLBACK")
        blocker.close()
        # the sender delivers the webhook again: recorded this time
        assert await journal.record_deliveries([read("wamid.0")]) == [DeliveryMatch.MESSAGE]
        assert (await journal.delivery_report()).read == 1
    finally:
        await journal.close()
