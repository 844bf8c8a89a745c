"""``SQLiteJournal``'s delivery statuses (#15 items 3 and 4): matched by message id, or by
recipient for rows written with no id known; kept monotonically; counted in the report."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from d360_async._campaign_journal import (
    RECIPIENT_MATCH_SLACK,
    DeliveryMatch,
    DeliveryReport,
    DeliveryUpdate,
    JournalRow,
)
from d360_async._journal import SQLiteJournal


def update(
    message_id: str,
    status: str,
    *,
    at: float | None = None,
    recipient: str | None = None,
    code: int | None = None,
) -> DeliveryUpdate:
    """A status; by default a few seconds after now (after the rows written so far)."""
    timestamp = time.time() + 5 if at is None else at
    return DeliveryUpdate(
        message_id=message_id,
        status=status,
        timestamp=timestamp,
        recipient=recipient,
        error_code=code,
    )


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[SQLiteJournal]:
    j = SQLiteJournal(tmp_path / "j.sqlite")
    await j.open("spring")
    yield j
    await j.close()


def rows(path: Path) -> dict[int, tuple[str, str | None, int]]:
    with sqlite3.connect(path) as conn:
        query = "SELECT idx, status, message_id, settled FROM messages"
        return {i: (s, m, settled) for i, s, m, settled in conn.execute(query)}


async def test_statuses_by_message_id_keep_the_most_advanced_with_the_failure_code(
    journal: SQLiteJournal,
) -> None:
    r = journal.digest(b"491510")
    for i in range(6):
        journal.record(i, r, "f", "sent", f"wamid.{i}")
    journal.record(6, r, "f", "failed", None, "APIStatusError 400 #131050")
    journal.record(7, r, "f", "skipped", None, "repeated recipient")
    await journal.flush()
    matches = await journal.record_deliveries(
        [
            update("wamid.0", "read"),
            update("wamid.0", "delivered"),  # older, later: no change
            update("wamid.0", "sent"),
            update("wamid.1", "delivered"),
            update("wamid.1", "delivered"),  # duplicate
            update("wamid.2", "failed", code=131049),
            update("wamid.2", "sent"),
            update("wamid.3", "failed", code=131026),
            update("wamid.4", "sent"),
            update("wamid.other", "read"),  # another campaign's message
            update("wamid.5", "played"),  # not a delivery status: ignored
        ]
    )
    assert matches == [DeliveryMatch.MESSAGE] * 9 + [DeliveryMatch.NONE] * 2
    report = await journal.delivery_report()
    assert report == DeliveryReport(
        campaign_id="spring",
        accepted=6,
        no_status=1,
        sent=1,
        delivered=1,
        read=1,
        failed=2,
        failed_by_code={131026: 1, 131049: 1},
        not_sent=1,
        skipped=1,
    )
    assert report.total == 8
    with sqlite3.connect(journal.path) as conn:
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone() == (5,)


async def test_an_unknown_row_is_settled_by_a_later_status_of_its_recipient(
    journal: SQLiteJournal,
) -> None:
    alice, bob = journal.digest(b"491511"), journal.digest(b"491512")
    await journal.mark_pending(0, alice, "f")
    await journal.mark_pending(1, bob, "f")
    journal.record(0, alice, "f", "unknown", None, "ServerDisconnectedError")
    journal.record(1, bob, "f", "unknown", None, "ServerDisconnectedError")
    await journal.flush()
    assert rows(journal.path) == {0: ("unknown", None, 0), 1: ("unknown", None, 0)}

    matches = await journal.record_deliveries(
        [
            # before the request was written: another message to alice
            update("wamid.old", "read", recipient=alice, at=time.time() - 60),
            update("wamid.a", "delivered", recipient=alice),  # alice's: settles row 0
            update("wamid.a", "sent", recipient=alice),  # now known by its id
            update("wamid.c", "read", recipient=journal.digest(b"491513")),  # nobody's
            update("wamid.b", "read"),  # no recipient given: by id only
        ]
    )
    assert matches == [
        DeliveryMatch.NONE,
        DeliveryMatch.SETTLED,
        DeliveryMatch.MESSAGE,
        DeliveryMatch.NONE,
        DeliveryMatch.NONE,
    ]
    assert rows(journal.path) == {0: ("sent", "wamid.a", 1), 1: ("unknown", None, 0)}
    # row 0 is settled: another message's status cannot take it over
    assert await journal.record_deliveries([update("wamid.z", "read", recipient=alice)]) == [
        DeliveryMatch.NONE
    ]
    report = await journal.delivery_report()
    assert (report.accepted, report.delivered, report.settled, report.unknown) == (1, 1, 1, 1)


async def test_the_slack_bounds_how_early_a_status_may_be(journal: SQLiteJournal) -> None:
    alice = journal.digest(b"491511")
    await journal.mark_pending(0, alice, "f")
    journal.record(0, alice, "f", "unknown")
    await journal.flush()
    (written,) = sqlite3.connect(journal.path).execute("SELECT written FROM messages").fetchone()
    too_early = written - RECIPIENT_MATCH_SLACK - 0.01
    just_in = written - RECIPIENT_MATCH_SLACK + 0.01
    assert await journal.record_deliveries(
        [
            update("wamid.early", "sent", recipient=alice, at=too_early),
            update("wamid.in", "sent", recipient=alice, at=just_in),
        ]
    ) == [DeliveryMatch.NONE, DeliveryMatch.SETTLED]


async def test_a_status_for_a_pending_row_settles_it_when_it_ends_unknown(
    journal: SQLiteJournal,
) -> None:
    alice, bob = journal.digest(b"491511"), journal.digest(b"491512")
    await journal.mark_pending(0, alice, "f")
    await journal.mark_pending(1, bob, "f")
    assert await journal.record_deliveries(
        [
            update("wamid.a", "read", recipient=alice),
            update("wamid.b", "delivered", recipient=bob),
        ]
    ) == [DeliveryMatch.IN_FLIGHT, DeliveryMatch.IN_FLIGHT]
    assert rows(journal.path) == {0: ("pending", None, 0), 1: ("pending", None, 0)}
    journal.record(0, alice, "f", "unknown", None, "ServerDisconnectedError")  # no answer
    journal.record(1, bob, "f", "sent", "wamid.b")  # its answer came after its status
    await journal.flush()
    assert rows(journal.path) == {0: ("sent", "wamid.a", 1), 1: ("sent", "wamid.b", 0)}
    report = await journal.delivery_report()
    assert (report.accepted, report.read, report.delivered, report.settled) == (2, 1, 1, 1)


async def test_a_pending_row_of_a_run_that_died_is_read_back_settled(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = SQLiteJournal(path)
    await first.open(None)
    alice, bob = first.digest(b"491511"), first.digest(b"491512")
    await first.mark_pending(0, alice, "f")
    await first.mark_pending(1, bob, "f")
    await first.close()  # the run died with both in flight

    tracker = SQLiteJournal(path)
    await tracker.open(None)
    assert await tracker.record_deliveries([update("wamid.a", "sent", recipient=alice)]) == [
        DeliveryMatch.IN_FLIGHT
    ]
    await tracker.close()

    again = SQLiteJournal(path)
    await again.open(None)
    try:
        zero, one = await again.prior(0), await again.prior(1)
    finally:
        await again.close()
    assert zero is not None and one is not None
    assert (zero.status, zero.message_id, zero.settled) == ("sent", "wamid.a", True)
    assert (one.status, one.message_id, one.settled) == ("pending", None, False)
    assert one.written_at is not None and one.written_at == pytest.approx(time.time(), abs=60)
    assert rows(path)[0] == ("sent", "wamid.a", 1)


async def test_restore_puts_back_when_the_request_was_written(journal: SQLiteJournal) -> None:
    now = time.time()
    alice = journal.digest(b"491511")
    prior = JournalRow(
        index=0, recipient=alice, fingerprint="f", status="unknown", written_at=now - 3600
    )
    journal.restore(0, prior)  # as a run does after a refused retry
    await journal.mark_pending(0, alice, "f")
    journal.restore(0, prior)
    await journal.flush()
    with sqlite3.connect(journal.path) as conn:
        assert conn.execute("SELECT status, written FROM messages").fetchall() == [
            ("unknown", now - 3600)
        ]
    # the status of the first attempt still settles it
    match = await journal.record_deliveries([update("wamid.a", "sent", recipient=alice, at=now)])
    assert match == [DeliveryMatch.SETTLED]


async def test_a_journal_written_before_delivery_tracking_gets_its_columns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    journal = SQLiteJournal(path)
    await journal.open("spring")
    await journal.close()
    with sqlite3.connect(path) as conn:  # the journal as the previous release wrote it
        conn.execute("DROP INDEX messages_unsettled")
        conn.execute("DROP TABLE deliveries")
        conn.execute("ALTER TABLE messages DROP COLUMN written")
        conn.execute("ALTER TABLE messages DROP COLUMN settled")
        conn.execute(
            "INSERT INTO messages (idx, recipient, fingerprint, status, message_id, updated) "
            "VALUES (0, 'r', 'f', 'sent', 'wamid.0', 0)"
        )
    again = SQLiteJournal(path)
    await again.open("spring")
    try:
        assert await again.record_deliveries([update("wamid.0", "read")]) == [DeliveryMatch.MESSAGE]
        report = await again.delivery_report()
    finally:
        await again.close()
    assert (report.accepted, report.read) == (1, 1)


async def test_another_message_to_the_recipient_does_not_take_over_a_row_that_gets_its_answer(
    journal: SQLiteJournal,
) -> None:
    alice = journal.digest(b"491511")
    await journal.mark_pending(0, alice, "f")
    # a transactional message to the same customer, at the same time, is read
    assert await journal.record_deliveries([update("wamid.other", "read", recipient=alice)]) == [
        DeliveryMatch.IN_FLIGHT
    ]
    journal.record(0, alice, "f", "sent", "wamid.ours")  # our answer: our own id
    await journal.flush()
    report = await journal.delivery_report()
    assert (report.accepted, report.no_status, report.read, report.settled) == (1, 1, 0, 0)
    assert await journal.record_deliveries([update("wamid.ours", "delivered")]) == [
        DeliveryMatch.MESSAGE
    ]
    report = await journal.delivery_report()
    assert (report.delivered, report.read) == (1, 0)
    assert rows(journal.path) == {0: ("sent", "wamid.ours", 0)}
