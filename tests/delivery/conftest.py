"""Fixtures and helpers of the delivery-tracking tests: an emulator, a client, a receiver
served on loopback, statuses made from what the emulator accepted."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from d360_async import JournalRow, SQLiteJournal
from d360_async.testing._records import RecordedSend
from d360_async.webhooks import StatusUpdate, WebhookErrorDetail
from tests.bulk.conftest import client, emu, number, welcome
from tests.webhooks.conftest import serving

# the bulk suite's emulator, client and messages, the webhook suite's loopback server
__all__ = ["client", "emu", "number", "serving", "welcome"]

#: When the rows of ``journal_with`` were written (Unix seconds).
T0 = 1_767_312_000.0


def status_of(
    message: RecordedSend, status: str, *, at: float | None = None, code: int | None = None
) -> StatusUpdate:
    """The status webhook Meta would send about an accepted message."""
    return StatusUpdate(
        id=message.wamid,
        status=status,
        timestamp=datetime.fromtimestamp(message.timestamp if at is None else at, UTC),
        recipient_id=message.wa_id,
        errors=[WebhookErrorDetail(code=code)] if code is not None else (),
    )


async def journal_with(path: Path, rows: list[tuple[int, str, str, str | None]]) -> None:
    """A journal whose rows are (index, recipient number, status, message id), written at T0."""
    journal = SQLiteJournal(path)
    await journal.open(None)
    for index, to, state, message_id in rows:
        row = JournalRow(
            index=index,
            recipient=journal.digest(to.encode()),
            fingerprint="f",
            status=state,
            message_id=message_id,
            written_at=T0,
        )
        journal.restore(index, row)
    await journal.close()


def age_rows(path: Path, seconds: float) -> None:
    """Make every row's request ``seconds`` older (as if written that long ago)."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE messages SET written = written - ?", (seconds,))


def row_statuses(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT idx, status FROM messages ORDER BY idx"))
