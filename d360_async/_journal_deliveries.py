"""``SQLiteJournal``'s delivery statuses: the ``deliveries`` table, the matching of a status to
a row (``_campaign_journal``'s rules), the settling of rows, the report. Every function runs
on the journal's thread, inside its transaction.

A status is kept in ``deliveries`` keyed by message id, with the most advanced rank and the row
it matched; a partial index of the rows written with no id known (``pending``, ``unknown``) by
recipient and write time makes a match by recipient one search.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Final

from ._campaign_journal import (
    DELIVERY_RANKS,
    RECIPIENT_MATCH_SLACK,
    DeliveryMatch,
    DeliveryReport,
    DeliveryUpdate,
)

__all__ = ["add_delivery_tables", "delivery_report", "record_delivery", "settled_row"]

_DELIVERIES = """CREATE TABLE IF NOT EXISTS deliveries (
    message_id TEXT PRIMARY KEY,
    idx INTEGER,
    rank INTEGER NOT NULL,
    error_code INTEGER,
    at REAL NOT NULL
)"""
_DELIVERIES_BY_IDX = (
    "CREATE INDEX IF NOT EXISTS deliveries_by_idx ON deliveries (idx) WHERE idx IS NOT NULL"
)
#: Columns added by delivery tracking (added to older journals when they are opened).
_ADDED_COLUMNS: Final = {"written": "REAL", "settled": "INTEGER NOT NULL DEFAULT 0"}
_UNSETTLED = "status IN ('pending', 'unknown')"
_UNSETTLED_INDEX: Final = (
    "CREATE INDEX IF NOT EXISTS messages_unsettled ON messages (recipient, written) "
    f"WHERE {_UNSETTLED}"
)
#: The message id of the status that settles row ``idx`` written at ``written``, if any.
_EVIDENCE = "SELECT message_id FROM deliveries WHERE idx = ? AND at + ? >= ? ORDER BY at LIMIT 1"
#: The latest row of a recipient written with no id known, before a status's time.
_BY_RECIPIENT = (
    f"SELECT idx, status FROM messages WHERE recipient = ? AND {_UNSETTLED} "
    "AND written <= ? ORDER BY written DESC LIMIT 1"
)
_SETTLE = (
    "UPDATE messages SET status = 'sent', message_id = ?, error = NULL, settled = 1, "
    "updated = ? WHERE idx = ?"
)
_DELIVERY = (
    "INSERT INTO deliveries (message_id, idx, rank, error_code, at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (message_id) DO UPDATE SET idx = coalesce(deliveries.idx, excluded.idx), "
    "error_code = CASE WHEN excluded.rank > deliveries.rank THEN excluded.error_code "
    "ELSE deliveries.error_code END, rank = max(deliveries.rank, excluded.rank)"
)
_REPORT = (
    "SELECT m.status, m.settled, d.rank, d.error_code, count(*) FROM messages AS m "
    "LEFT JOIN deliveries AS d ON d.message_id = m.message_id "
    "GROUP BY m.status, m.settled, d.rank, d.error_code"
)
_STATUS_OF_RANK: Final = {rank: status for status, rank in DELIVERY_RANKS.items()}


def add_delivery_tables(conn: sqlite3.Connection) -> None:
    """Create what delivery tracking needs; a journal written before it gets its columns."""
    conn.execute(_DELIVERIES)
    conn.execute(_DELIVERIES_BY_IDX)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
    for name, kind in _ADDED_COLUMNS.items():
        if name not in columns:
            conn.execute(f"ALTER TABLE messages ADD COLUMN {name} {kind}")
    conn.execute(_UNSETTLED_INDEX)


def settled_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """An ``unknown`` (or dead ``pending``) row to store: ``sent`` with the message id of a
    status that matched it while it was ``pending``, if one did; else as it is."""
    index, written = row[0], row[7]
    if written is None:
        (written,) = conn.execute(
            "SELECT written FROM messages WHERE idx = ?", (index,)
        ).fetchone() or (None,)
        if written is None:
            return row
    evidence = conn.execute(_EVIDENCE, (index, RECIPIENT_MATCH_SLACK, written)).fetchone()
    if evidence is None:
        return row
    return (*row[:3], "sent", evidence[0], None, row[6], written, 1)


def record_delivery(conn: sqlite3.Connection, update: DeliveryUpdate) -> DeliveryMatch:
    """Record one status if it is this campaign's (the module's matching rules)."""
    rank = DELIVERY_RANKS.get(update.status)
    if rank is None:
        return DeliveryMatch.NONE
    values = [update.message_id, None, rank, update.error_code, update.timestamp]
    known = conn.execute(
        "SELECT idx FROM messages WHERE message_id = ? LIMIT 1", (update.message_id,)
    ).fetchone()
    if known is None:
        known = conn.execute(
            "SELECT idx FROM deliveries WHERE message_id = ?", (update.message_id,)
        ).fetchone()
    if known is not None:
        values[1] = known[0]
        conn.execute(_DELIVERY, values)
        return DeliveryMatch.MESSAGE
    if update.recipient is None:
        return DeliveryMatch.NONE
    found = conn.execute(
        _BY_RECIPIENT, (update.recipient, update.timestamp + RECIPIENT_MATCH_SLACK)
    ).fetchone()
    if found is None:
        return DeliveryMatch.NONE
    index, status = found
    values[1] = index
    conn.execute(_DELIVERY, values)
    if status == "pending":
        return DeliveryMatch.IN_FLIGHT
    conn.execute(_SETTLE, (update.message_id, time.time(), index))
    return DeliveryMatch.SETTLED


def delivery_report(conn: sqlite3.Connection) -> DeliveryReport:
    """Count the rows by status and by their message's most advanced delivery status."""
    counts: dict[str, int] = dict.fromkeys(
        ("accepted", "no_status", *DELIVERY_RANKS, "unknown", "settled", "pending"), 0
    )
    counts.update(not_sent=0, skipped=0)
    failed_by_code: dict[int | None, int] = {}
    for status, settled, rank, code, n in conn.execute(_REPORT):
        if status != "sent":
            counts["not_sent" if status == "failed" else status] += n
            continue
        counts["accepted"] += n
        counts["settled"] += n if settled else 0
        delivery = _STATUS_OF_RANK.get(rank, "no_status")
        counts[delivery] += n
        if delivery == "failed":
            failed_by_code[code] = failed_by_code.get(code, 0) + n
    row = conn.execute("SELECT value FROM meta WHERE key = 'campaign_id'").fetchone()
    return DeliveryReport(
        campaign_id=None if row is None else str(row[0]),
        failed_by_code=dict(sorted(failed_by_code.items(), key=lambda kv: (kv[0] is None, kv))),
        **counts,
    )
