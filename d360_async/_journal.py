"""The campaign journal: every message's state in SQLite (WAL), written by one thread in batches.

A row per input message, keyed by its input index::

    pending  written (and committed) right before the request goes out
    sent     accepted, with its message id
    failed   certainly not accepted (the error says why)
    unknown  the request may have been accepted (timeout, dropped connection, ambiguous 5xx)

Exactly-once across crashes rests on one rule: a message is marked ``pending`` and that mark is
committed *before* its request is sent. A process killed mid-campaign leaves its in-flight
messages ``pending``; a re-run reads them as ``unknown`` and does not send them again (unless
asked to). WAL with ``synchronous=NORMAL`` survives a killed process (not a power cut).

The event loop never touches SQLite: a writer thread drains a queue, writes everything queued
in one transaction, commits, then wakes the coroutines waiting for their ``pending`` marks
(group commit). Earlier outcomes are read ahead in index order on another connection, so a
re-run needs no memory per message.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import attrs

from ._errors import D360Error

__all__ = ["Journal", "JournalError", "PriorOutcome"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    idx INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'unknown')),
    message_id TEXT,
    error TEXT,
    updated REAL NOT NULL
);
"""
_UPSERT = (
    "INSERT INTO messages (idx, recipient, status, message_id, error, updated) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (idx) DO UPDATE SET status = excluded.status, "
    "message_id = excluded.message_id, error = excluded.error, updated = excluded.updated"
)
_READ_AHEAD = 2000
_MAX_BATCH = 20000


class JournalError(D360Error):
    """The journal cannot be used: unreadable, or written by another campaign.

    Example:
        >>> isinstance(JournalError("x"), D360Error)
        True
    """


@attrs.frozen
class PriorOutcome:
    """What an earlier run recorded for one message."""

    recipient: str
    status: str
    message_id: str | None
    error: str | None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class Journal:
    """Message states of one campaign, in a SQLite file.

    Args:
        path: The journal file; created if missing, resumed if present.

    Example:
        >>> journal = Journal("campaign.sqlite")  # opened by the bulk sender: await open()
        >>> journal.path.name
        'campaign.sqlite'
    """

    __slots__ = (
        "_ahead",
        "_ahead_done",
        "_ahead_from",
        "_error",
        "_loop",
        "_queue",
        "_reader",
        "_thread",
        "path",
    )

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._queue: queue.SimpleQueue[tuple[str, Any, Any]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._ahead: deque[tuple[int, PriorOutcome]] = deque()
        self._ahead_from = 0
        self._ahead_done = False
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        """Create or open the file and start the writer thread."""
        loop = self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._write_loop, args=(loop, ready), name="d360-journal", daemon=True
        )
        self._thread.start()
        await ready
        self._reader = await asyncio.to_thread(_connect, self.path)

    async def prior(self, idx: int) -> PriorOutcome | None:
        """What an earlier run recorded for message ``idx`` (asked in increasing ``idx``)."""
        while self._ahead and self._ahead[0][0] < idx:
            self._ahead.popleft()
        if not self._ahead and not self._ahead_done:
            start = max(idx, self._ahead_from)
            rows = await asyncio.to_thread(self._read, start)
            self._ahead.extend(rows)
            self._ahead_from = rows[-1][0] + 1 if rows else start
            self._ahead_done = len(rows) < _READ_AHEAD
            while self._ahead and self._ahead[0][0] < idx:
                self._ahead.popleft()
        if self._ahead and self._ahead[0][0] == idx:
            return self._ahead.popleft()[1]
        return None

    def _read(self, start: int) -> list[tuple[int, PriorOutcome]]:
        assert self._reader is not None
        cursor = self._reader.execute(
            "SELECT idx, recipient, status, message_id, error FROM messages "
            "WHERE idx >= ? ORDER BY idx LIMIT ?",
            (start, _READ_AHEAD),
        )
        return [(row[0], PriorOutcome(*row[1:])) for row in cursor]

    async def mark_pending(self, idx: int, recipient: str) -> None:
        """Record that message ``idx`` is about to be sent; returns once committed."""
        self._check()
        assert self._loop is not None, "the journal is not open"
        future: asyncio.Future[None] = self._loop.create_future()  # no get_running_loop()
        self._queue.put(("row", (idx, recipient, "pending", None, None, time.time()), future))
        await future

    def record(
        self,
        idx: int,
        recipient: str,
        status: str,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record an outcome (committed with the next batch; never blocks the loop)."""
        self._check()
        self._queue.put(("row", (idx, recipient, status, message_id, error, time.time()), None))

    async def flush(self) -> None:
        """Wait until everything recorded so far is committed."""
        self._check()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put(("flush", None, future))
        await future

    async def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        if self._thread is not None:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queue.put(("close", None, future))
            try:
                await future
            finally:
                await asyncio.to_thread(self._thread.join)
                self._thread = None
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await asyncio.to_thread(reader.close)
        self._check()

    def _check(self) -> None:
        if self._error is not None:
            raise JournalError(f"journal {self.path} failed: {self._error}") from self._error

    def _write_loop(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = _connect(self.path)
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._error = exc
            loop.call_soon_threadsafe(_settle, [ready], exc)
            return
        loop.call_soon_threadsafe(_settle, [ready], None)
        closing = False
        while not closing:
            batch = [self._queue.get()]
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            rows = [payload for kind, payload, _ in batch if kind == "row"]
            waiters = [future for _, _, future in batch if future is not None]
            closing = any(kind == "close" for kind, _, _ in batch)
            error: BaseException | None = None
            try:
                if rows:
                    conn.execute("BEGIN")
                    conn.executemany(_UPSERT, rows)
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._error = error = exc
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            if waiters:
                loop.call_soon_threadsafe(_settle, waiters, error)
        conn.close()


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(JournalError(f"journal write failed: {error}"))
