"""``SQLiteJournal``: a campaign's message states in one SQLite file (WAL).

The rows of the run are committed by the event loop itself, on a connection of its own: a
``pending`` row (with every outcome recorded since the last commit) in one transaction inside
``mark_pending``, which returns without giving the loop a turn, so the request's last byte
(held back until then, see ``_wire``) goes microseconds after the row is durable; a row put
back after a refusal (``restore``) at once too; other outcomes with the next ``pending`` row,
or on their own within 10 ms (``flush`` and ``close`` commit them at once). A WAL commit with
``synchronous=NORMAL`` writes to the operating system's cache and waits for no disk (about 20
us here), and it survives a killed process (not a power cut). Committed from a thread instead,
the row's hand-back through the interpreter lock to a busy loop took 0.7-5 ms
(``benchmarks/bench_crash.py gap``), and a kill in that window left a message ``pending`` whose
request the server never got in full: a recipient never messaged.

A thread does what may wait longer or read much: it opens the file (the lease, schema and
identity), reads earlier outcomes ahead in index order, records status webhooks, answers
reports, copies the WAL into the file (checkpoints, never inside a commit) and closes it. Both
connections wait for the write lock in ``begin``; the other writers (the thread, a
``DeliveryTracker``) hold it for one short transaction at a time. The thread never dies with a
future unsettled.

Nothing waits forever: once a write fails (a full disk, a read-only file, a lock held past
``busy_timeout``) ``mark_pending``, ``flush`` and every later request raise the
``JournalError``; rows committed before stay as they were.

Status webhooks are kept in a ``deliveries`` table keyed by message id (the most advanced status
of each message, its error code, the row it matched); a partial index of the rows written with
no id known (``pending``, ``unknown``) by recipient makes a match by recipient one lookup.
Journals written before delivery tracking get the new columns and table when opened.

Opening the file (the run's lease, its schema and identity, a read-only look) and taking its
write lock are ``_journal_file``'s; this module queues, batches and answers the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ._campaign_journal import (
    DeliveryMatch,
    DeliveryReport,
    DeliveryUpdate,
    JournalError,
    JournalRow,
    MessagedRecipients,
)
from ._errors import ValidationError
from ._journal_deliveries import delivery_report, record_delivery, settled_row
from ._journal_file import (
    WRITTEN_SQL,
    JournalFile,
    begin,
    connect_writer,
    failure,
    open_file,
    pragma_value,
    rollback,
)

__all__ = ["SQLiteJournal"]

_UPSERT = (
    "INSERT INTO messages "
    "(idx, recipient, fingerprint, status, message_id, error, updated, written, settled) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idx) DO UPDATE SET "
    "recipient = excluded.recipient, fingerprint = excluded.fingerprint, "
    "status = excluded.status, message_id = excluded.message_id, error = excluded.error, "
    "updated = excluded.updated, written = coalesce(excluded.written, messages.written), "
    "settled = excluded.settled"
)
_DELETE = "DELETE FROM messages WHERE idx = ?"
_COLUMNS = "idx, recipient, fingerprint, status, message_id, error, written, settled"
_READ_AHEAD = 2000
_MAX_BATCH = 20000
#: Seconds an outcome waits for the next ``pending`` commit to take it along before it is
#: committed on its own (a run sending a message commits one every few milliseconds).
_OUTCOMES_WAIT = 0.01
#: Rows written between two checkpoints of the WAL into the database file.
_CHECKPOINT_ROWS = 4000
_DIGEST_BYTES = 16

_Future = asyncio.Future[Any]
_Op = tuple[str, Any, "_Future | None"]


def _row(values: tuple[Any, ...]) -> JournalRow:
    index, recipient, fingerprint, status, message_id, error, written, settled = values
    return JournalRow(
        index=index,
        recipient=recipient,
        fingerprint=fingerprint,
        status=status,
        message_id=message_id,
        error=error,
        written_at=written,
        settled=bool(settled),
    )


class SQLiteJournal:
    """A campaign journal in a SQLite file: ``send_bulk(journal=SQLiteJournal(path))``, or just
    ``journal=path``.

    Args:
        path: The file; created if missing, resumed if present.
        busy_timeout: Seconds a write waits for another process's lock before the run stops
            with ``JournalError``.
        pragmas: Extra ``PRAGMA name = value`` settings for the connection, e.g.
            ``{"max_page_count": 250000}`` to cap the file's size.
        read_only: Only read an existing journal (``delivery_report``, ``find_message``):
            nothing is created or written, a file that is not a journal is refused, and no
            lease is taken (a report may read a journal a run is writing).

    An object serves one run: open it once (the bulk sender does), close it once. A run holds
    the journal's lease (``<path>.lock``, see ``open``) from ``open`` to ``close``.

    Raises:
        ValidationError: An argument that is not what it should be.

    Example:
        >>> journal = SQLiteJournal("spring.sqlite", busy_timeout=10.0)
        >>> journal.path.name
        'spring.sqlite'
    """

    __slots__ = (
        "_ahead",
        "_ahead_done",
        "_ahead_from",
        "_closed",
        "_error",
        "_fetching",
        "_file",
        "_loop",
        "_pragmas",
        "_queue",
        "_rows",
        "_salt",
        "_soon",
        "_thread",
        "_unchecked",
        "_writer",
        "busy_timeout",
        "path",
        "read_only",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        pragmas: Mapping[str, str | int] | None = None,
        read_only: bool = False,
    ) -> None:
        if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
            raise ValidationError("path", "must be a file path")
        interval = busy_timeout
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or not interval >= 0
        ):
            raise ValidationError("busy_timeout", "must be a number of seconds, 0 or more")
        if pragmas is not None and not isinstance(pragmas, Mapping):
            raise ValidationError("pragmas", "must be a mapping of pragma names to values")
        if not isinstance(read_only, bool):
            raise ValidationError("read_only", "must be True or False")
        self.path = Path(path)
        self.busy_timeout = float(busy_timeout)
        self.read_only = read_only
        self._file: JournalFile | None = None
        self._pragmas = {name: pragma_value(name, value) for name, value in (pragmas or {}).items()}
        self._queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._writer: sqlite3.Connection | None = None  # the event loop's own connection
        self._rows: list[_Op] = []  # row changes waiting for the loop's next commit
        self._soon = False  # a commit of the outcomes is due within _OUTCOMES_WAIT
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._salt = b""
        self._error: JournalError | None = None
        self._closed = False
        self._ahead: deque[tuple[Any, ...]] = deque()
        self._ahead_from = 0
        self._ahead_done = False
        self._fetching: _Future | None = None
        self._unchecked = 0

    def __repr__(self) -> str:
        return f"SQLiteJournal({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    # -- the event loop's side -----------------------------------------------------------

    async def open(self, campaign_id: str | None, *, shared: bool = False) -> int | None:
        """Create or open the file and bind it to ``campaign_id``; returns the lowest index of
        a row whose request an earlier run may have written (None: there is none).

        A run takes the journal's lease: an exclusive lock on ``<path>.lock`` (the OS's:
        it ends with the process, however it ends), held until ``close``; while another
        run holds it, ``open`` is refused. ``shared=True`` (a ``DeliveryTracker``
        recording statuses) and a ``read_only`` journal take no lease.

        A failed open leaves nothing behind (its thread ends): the object may be opened again
        (a ``DeliveryTracker`` tries again with the next webhook).

        Raises:
            JournalError: The file cannot be read or written, belongs to another campaign,
                or is in use by another run.
        """
        if self._thread is not None or self._closed:
            raise JournalError(f"journal {self.path} was already opened")
        loop = self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(
            target=self._serve, args=(loop,), name="d360-journal", daemon=True
        )
        self._thread.start()
        try:
            salt, first = await self._ask("open", (campaign_id, shared))
            if not self.read_only:
                self._writer = connect_writer(self.path, self._pragmas)
        except BaseException:
            await self.close()
            self._thread = self._loop = self._error = None
            self._rows = []
            self._closed = False
            raise
        self._salt = salt
        return first  # type: ignore[no-any-return]

    def digest(self, data: bytes) -> str:
        """The keyed digest stored instead of ``data`` (a recipient, a message body).

        Example:
            >>> len(SQLiteJournal("x.sqlite").digest(b"4915112345678"))
            32
        """
        return hashlib.blake2b(data, key=self._salt, digest_size=_DIGEST_BYTES).hexdigest()

    async def prior(self, index: int) -> JournalRow | None:
        """What an earlier run recorded for message ``index`` (asked in increasing order)."""
        ahead = self._ahead
        while True:
            while ahead and ahead[0][0] < index:
                ahead.popleft()
            if ahead or self._ahead_done:
                break
            if self._fetching is None:
                self._fetching = self._read_ahead(max(index, self._ahead_from))
            fetching, self._fetching = self._fetching, None
            self._take(await fetching)
        running_low = ahead and len(ahead) < _READ_AHEAD // 2 and not self._ahead_done
        if running_low and self._fetching is None:  # fetch the next rows while these are used
            self._fetching = self._read_ahead(self._ahead_from)
        if ahead and ahead[0][0] == index:
            return _row(ahead.popleft())
        return None

    def _read_ahead(self, start: int) -> _Future:
        future = self._future()
        self._queue.put(("read", start, future))
        return future

    def _take(self, rows: list[tuple[Any, ...]]) -> None:
        self._ahead.extend(rows)
        if rows:
            self._ahead_from = rows[-1][0] + 1
        self._ahead_done = len(rows) < _READ_AHEAD

    async def messaged(self) -> MessagedRecipients:
        """The recipients of the rows whose request may have been written, with their index
        (one query, sorted by SQLite; 24 bytes a row in memory)."""
        found: MessagedRecipients = await self._ask("messaged", None)
        return found

    async def mark_pending(self, index: int, recipient: str, fingerprint: str) -> None:
        """Record that message ``index`` is about to be written; returns once committed (on
        the event loop's thread, without giving the loop a turn: see the module).

        Raises:
            JournalError: The row could not be committed (or an earlier write failed).
        """
        now = time.time()
        row = (index, recipient, fingerprint, "pending", None, None, now, now, 0)
        self._rows.append(("row", row, None))
        self._commit()

    def record(
        self,
        index: int,
        recipient: str,
        fingerprint: str,
        status: str,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record an outcome (committed with the next ``pending`` row, or on its own within
        10 ms; never blocks, never raises)."""
        row = (index, recipient, fingerprint, status, message_id, error, time.time(), None, 0)
        self._rows.append(("row", row, None))
        if not self._soon and self._loop is not None:  # else the next pending commit takes it
            self._soon = True
            self._loop.call_later(_OUTCOMES_WAIT, self._outcomes_due)

    def restore(self, index: int, prior: JournalRow | None) -> None:
        """Put message ``index`` back as ``prior`` recorded it (None: no row), committed
        before this returns (a failure is the next ``mark_pending``'s or ``flush``'s)."""
        if prior is None:
            self._rows.append(("delete", index, None))
            self._commit_quietly()
            return
        row = (
            index,
            prior.recipient,
            prior.fingerprint,
            prior.status,
            prior.message_id,
            prior.error,
            time.time(),
            prior.written_at,
            int(prior.settled),
        )
        self._rows.append(("row", row, None))
        self._commit_quietly()

    def _commit(self) -> None:
        """Commit the rows waiting, on the event loop's connection, now.

        Raises:
            JournalError: They could not be (or an earlier write failed).
        """
        writer = self._writer
        if writer is None:
            raise JournalError(f"journal {self.path} is not open")
        rows = self._rows
        if rows and self._error is None:
            self._rows = []
            self._write(writer, rows)
            if self._unchecked >= _CHECKPOINT_ROWS:  # the thread copies the WAL
                self._unchecked = 0
                self._queue.put(("checkpoint", None, None))
        if self._error is not None:
            raise JournalError(str(self._error))

    def _commit_quietly(self) -> None:
        """Commit the rows waiting (a failure is kept for the next ``mark_pending``)."""
        if self._writer is not None:
            with contextlib.suppress(JournalError):
                self._commit()

    def _outcomes_due(self) -> None:
        """No ``pending`` commit took the outcomes along in time: commit them now."""
        self._soon = False
        self._commit_quietly()

    async def flush(self) -> None:
        """Wait until everything recorded so far is committed.

        Raises:
            JournalError: Some of it could not be written.
        """
        self._commit()
        await self._ask("flush", None)

    async def find_message(self, message_id: str) -> JournalRow | None:
        """The row of the message accepted with ``message_id``, or None."""
        row: JournalRow | None = await self._ask("find", message_id)
        return row

    async def record_deliveries(self, updates: Sequence[DeliveryUpdate]) -> list[DeliveryMatch]:
        """Record status webhooks (committed with the next batch, in one transaction with the
        rows written before them); returns what each one matched.

        Raises:
            JournalError: They could not be committed.
        """
        if not updates:
            return []
        matches: list[DeliveryMatch] = await self._ask("delivery", tuple(updates))
        return matches

    async def delivery_report(self) -> DeliveryReport:
        """The campaign's counts, read in one query."""
        report: DeliveryReport = await self._ask("report", None)
        return report

    async def close(self) -> None:
        """Commit what is queued and stop the thread. Cancelling the wait does not stop
        the closing: the thread commits, closes the file and ends on its own."""
        if self._closed:
            return
        if self._thread is None or self._loop is None:
            self._closed = True
            return
        self._commit_quietly()
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(sqlite3.Error):
                writer.close()
        future = self._loop.create_future()
        self._closed = True
        self._queue.put(("close", None, future))
        await asyncio.shield(future)

    def _future(self) -> _Future:
        if self._loop is None or self._closed:
            raise JournalError(f"journal {self.path} is not open")
        return self._loop.create_future()

    async def _ask(self, kind: str, payload: Any) -> Any:
        future = self._future()
        self._commit_quietly()  # the thread sees every row recorded before the request
        self._queue.put((kind, payload, future))
        return await future

    # -- the thread's side ---------------------------------------------------------------

    def _serve(self, loop: asyncio.AbstractEventLoop) -> None:
        """The thread: serve requests until ``close``; settle every future whatever happens."""
        conn: sqlite3.Connection | None = None
        closing = False
        while not closing:
            batch = [self._queue.get()]
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = _asked("close", batch)
            try:
                conn, settle = self._handle(conn, batch)
            except BaseException as exc:  # unexpected: fail everything, keep serving
                if conn is not None:
                    rollback(conn)
                if self._error is None:
                    self._error = self._failure(exc)
                settle = [(f, None, self._error) for _, _, f in batch if f is not None]
            if closing and self._file is not None:
                self._file.close()
            if settle:
                try:
                    loop.call_soon_threadsafe(_settle, settle)
                except RuntimeError:  # the loop is closed: nobody is waiting any more
                    return
            due = self._unchecked >= _CHECKPOINT_ROWS
            if conn is not None and not closing and (due or _asked("checkpoint", batch)):
                self._checkpoint(conn)

    def _handle(
        self, conn: sqlite3.Connection | None, batch: list[_Op]
    ) -> tuple[sqlite3.Connection | None, list[tuple[_Future, Any, BaseException | None]]]:
        """Do one batch: open first, then every status in one transaction, then answer."""
        settle: list[tuple[_Future, Any, BaseException | None]] = []
        for kind, payload, future in batch:
            if kind != "open" or future is None:
                continue
            try:
                conn = self._open(*payload)
                settle.append((future, (self._salt, self._first(conn)), None))
            except JournalError as exc:
                self._error = exc
                settle.append((future, None, exc))
        matched: dict[int, list[DeliveryMatch]] = {}
        refused: JournalError | None = None  # statuses not recorded this time
        if conn is not None and self._error is None:
            matched, refused = self._write(conn, batch)
        for kind, payload, future in batch:
            if future is None or kind == "open":
                continue
            if kind == "flush":
                settle.append((future, None, self._error))
            elif kind == "delivery":
                error = self._error or refused or (None if conn else self._failure("not open"))
                settle.append((future, matched.get(id(future)), error))
            elif kind == "close":
                settle.append((future, None, None))
            elif conn is None:
                settle.append((future, None, self._error or self._failure("not open")))
            elif kind == "read":
                settle.append((future, self._read(conn, payload), None))
            elif kind == "report":
                settle.append((future, delivery_report(conn), None))
            elif kind == "messaged":
                settle.append((future, self._messaged(conn), None))
            else:  # find
                settle.append((future, self._find(conn, payload), None))
        return conn, settle

    def _failure(self, exc: BaseException | str) -> JournalError:
        return failure(self.path, exc)

    def _open(self, campaign_id: str | None, shared: bool) -> sqlite3.Connection:
        opened = self._file = open_file(
            self.path,
            campaign_id,
            lease=not shared and not self.read_only,
            read_only=self.read_only,
            busy_timeout=self.busy_timeout,
            pragmas=self._pragmas,
        )
        self._salt = opened.salt
        return opened.conn

    @staticmethod
    def _first(conn: sqlite3.Connection) -> int | None:
        (first,) = conn.execute(
            f"SELECT min(idx) FROM messages WHERE status IN ({WRITTEN_SQL})"
        ).fetchone()
        return first if first is None else int(first)

    def _write(
        self, conn: sqlite3.Connection, batch: list[_Op]
    ) -> tuple[dict[int, list[DeliveryMatch]], JournalError | None]:
        """Apply the batch's row changes (the event loop's connection) or statuses (the
        thread's) in order, in one transaction; returns what the statuses matched (by ``id``
        of their future), and the error of a batch of statuses only that could not be
        written: their caller gets it and may try again (the sender delivers the webhook
        again), the journal goes on. A failure with row changes fails the journal. Whatever
        fails, the transaction is rolled back: the write lock is never left held."""
        ops = [(k, p, f) for k, p, f in batch if k in _WRITES]
        matched: dict[int, list[DeliveryMatch]] = {}
        if not ops:
            return matched, None
        try:
            begin(conn, self.busy_timeout)  # reads come first: take the write lock now
            rows: list[Any] = []
            for kind, payload, future in ops:
                if kind == "row" and not (payload[3] == "unknown" and payload[4] is None):
                    rows.append(payload)
                    continue
                if rows:  # the rows before this change, in order
                    conn.executemany(_UPSERT, rows)
                    rows = []
                if kind == "row":
                    conn.execute(_UPSERT, settled_row(conn, payload))
                elif kind == "delete":
                    conn.execute(_DELETE, (payload,))
                else:
                    matched[id(future)] = [record_delivery(conn, update) for update in payload]
            if rows:
                conn.executemany(_UPSERT, rows)
            conn.execute("COMMIT")
            self._unchecked += len(ops)
        except Exception as exc:  # any error (a value SQLite cannot store...), not only its own
            rollback(conn)  # never keep the write lock
            if all(kind == "delivery" for kind, _, _ in ops):
                return {}, self._failure(exc)
            self._error = self._failure(exc)
        return matched, None

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Copy the WAL into the database file (never blocks other connections)."""
        self._unchecked = 0
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            if self._error is None:
                self._error = self._failure(exc)

    def _read(self, conn: sqlite3.Connection, start: int) -> list[tuple[Any, ...]]:
        """Rows as tuples: the thread does as little Python as it can (it would hold the
        interpreter lock the event loop needs). A ``pending`` row (its run died) that a status
        matched is settled, in the file too."""
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE idx >= ? ORDER BY idx LIMIT ?",
            (start, _READ_AHEAD),
        ).fetchall()
        for i, row in enumerate(rows):
            if row[3] == "pending":
                settled = settled_row(conn, (*row[:6], time.time(), *row[6:]))
                if settled[3] == "sent":
                    rows[i] = (*settled[:6], *settled[7:])
                    try:
                        begin(conn, self.busy_timeout)
                        conn.execute(_UPSERT, settled)
                        conn.execute("COMMIT")
                    except sqlite3.Error as exc:
                        rollback(conn)
                        if self._error is None:
                            self._error = self._failure(exc)
        return rows

    @staticmethod
    def _messaged(conn: sqlite3.Connection) -> MessagedRecipients:
        found = MessagedRecipients()
        query = f"SELECT recipient, idx FROM messages WHERE status IN ({WRITTEN_SQL})"
        for recipient, index in conn.execute(f"{query} ORDER BY recipient, idx"):
            found.add(recipient, index)
        return found

    @staticmethod
    def _find(conn: sqlite3.Connection, message_id: str) -> JournalRow | None:
        values = conn.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE message_id = ? LIMIT 1", (message_id,)
        ).fetchone()
        return None if values is None else _row(values)


_WRITES: Final = frozenset({"row", "delete", "delivery"})


def _asked(kind: str, batch: list[_Op]) -> bool:
    return any(asked == kind for asked, _, _ in batch)


def _settle(settle: list[tuple[_Future, Any, BaseException | None]]) -> None:
    for future, result, error in settle:
        if future.done():  # its waiter was cancelled
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(JournalError(str(error)))
