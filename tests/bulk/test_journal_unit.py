"""``SQLiteJournal`` on its own, and the bulk sender's use of it when a send is cancelled while
its ``pending`` row is being committed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from d360_async import D360Client, JournalError, JournalRow, SQLiteJournal
from d360_async.testing import Emulator

from .conftest import number, welcome


async def test_rows_round_trip_in_index_order_past_the_read_ahead(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = SQLiteJournal(path)
    assert await journal.open("c1") is None
    recipient = journal.digest(b"4915100000000")
    for i in range(0, 9_000, 3):
        journal.record(i, recipient, "f", "sent" if i % 2 else "failed", f"wamid.{i}")
    journal.restore(3, None)  # row 3 removed again
    await journal.flush()
    await journal.close()
    await journal.close()  # twice is fine

    again = SQLiteJournal(path)
    assert await again.open("c1") == 9  # the first row that was written (0, 6: failed)
    try:
        assert again.digest(b"4915100000000") == recipient  # the key is kept in the file
        found = {i: await again.prior(i) for i in range(9_000)}
        by_id = await again.find_message("wamid.8997")
    finally:
        await again.close()
    kept = set(range(0, 9_000, 3)) - {3}
    assert {i for i, row in found.items() if row is not None} == kept
    assert found[6] == JournalRow(
        index=6, recipient=recipient, fingerprint="f", status="failed", message_id="wamid.6"
    )
    assert by_id is not None and (by_id.index, by_id.status) == (8997, "sent")


async def test_another_campaign_id_is_refused_at_open(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = SQLiteJournal(path)
    await first.open("spring")
    await first.close()
    second = SQLiteJournal(path)
    with pytest.raises(JournalError, match="belongs to campaign 'spring', not 'summer'"):
        await second.open("summer")
    await second.close()


async def test_a_journal_of_the_older_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (idx INTEGER PRIMARY KEY, recipient TEXT)")
    journal = SQLiteJournal(path)
    with pytest.raises(JournalError, match="older d360-async"):
        await journal.open(None)
    await journal.close()


async def test_a_file_that_is_not_a_database_is_a_typed_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello " * 1000)
    journal = SQLiteJournal(path)
    with pytest.raises(JournalError, match=r"notes\.txt"):
        await journal.open(None)
    await journal.close()


class CommitThenHang(SQLiteJournal):
    """Commits ``pending`` rows, then never hands control back: a cancellation lands while
    the send's ``on_wire`` is still awaiting its commit."""

    async def mark_pending(self, index: int, recipient: str, fingerprint: str) -> None:
        await super().mark_pending(index, recipient, fingerprint)
        await asyncio.Event().wait()


def statuses(path: Path) -> Counter[str]:
    with sqlite3.connect(path) as conn:
        return Counter(s for (s,) in conn.execute("SELECT status FROM messages"))


async def test_cancelled_while_pending_commits_puts_the_row_back(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    task = asyncio.create_task(
        client.send_bulk(welcome(30), journal=CommitThenHang(path), concurrency=5).run()
    )
    await asyncio.sleep(0.3)
    assert statuses(path) == {"pending": 5}  # committed, last bytes not written
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert statuses(path) == {}  # no trace: nothing was written in full
    assert emu.sent_messages == []  # requests cut short of their last byte: none acted upon
    report = await client.send_bulk(welcome(30), journal=path).run()
    assert report.sent == 30
    assert emu.accepted_counts() == {number(i): 1 for i in range(30)}


async def test_a_resent_unknown_cancelled_while_pending_commits_stays_unknown(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    path = tmp_path / "j.sqlite"
    emu.add_faults(["drop_after"])
    first = await client.send_bulk(welcome(1), journal=path).run()
    assert first.unknown == 1
    task = asyncio.create_task(
        client.send_bulk(welcome(1), journal=CommitThenHang(path), resend_unknown=True).run()
    )
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert statuses(path) == {"unknown": 1}  # the earlier outcome, not "never sent"
    plain = await client.send_bulk(welcome(1), journal=path).run()
    assert (plain.sent, plain.unknown) == (0, 1)
    assert emu.accepted_counts() == {number(0): 1}
