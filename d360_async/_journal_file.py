"""A journal's SQLite file: opening it (the run's lease, connection settings, schema, the
campaign it is bound to, or a read-only look at an existing one) and taking its write lock.

``SQLiteJournal`` (``_journal``) runs its thread on what ``open_file`` returns; this module
knows the file's layout and identity, that one how requests are queued, batched and answered.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ._campaign_journal import ROW_STATUSES, WRITTEN_STATUSES, JournalError
from ._errors import ValidationError
from ._journal_deliveries import add_delivery_tables
from ._lease import Lease, LeaseTaken

__all__ = [
    "WRITTEN_SQL",
    "JournalFile",
    "begin",
    "connect_writer",
    "failure",
    "open_file",
    "pragma_value",
    "rollback",
]

_FORMAT: Final = "d360-async campaign journal 2"
_STATUSES = ", ".join(f"'{s}'" for s in ROW_STATUSES)
#: The statuses of ``WRITTEN_STATUSES`` as an SQL list: ``status IN ({WRITTEN_SQL})``.
WRITTEN_SQL: Final = ", ".join(f"'{s}'" for s in sorted(WRITTEN_STATUSES))
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    idx INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_STATUSES})),
    message_id TEXT,
    error TEXT,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_message_id ON messages (message_id)
    WHERE message_id IS NOT NULL;
"""
#: Seconds between two tries to take the write lock.
_BUSY_POLL = 0.001
_SALT_BYTES = 16


class JournalFile:
    """An open journal file: its connection, digest key and (a run's) lease."""

    __slots__ = ("conn", "lease", "salt")

    def __init__(self, conn: sqlite3.Connection, salt: bytes, lease: Lease | None) -> None:
        self.conn = conn
        self.salt = salt
        self.lease = lease

    def close(self) -> None:
        """Close the connection, then end the lease (nothing left to save)."""
        try:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
        finally:
            if self.lease is not None:
                self.lease.release()


def failure(path: Path, exc: BaseException | str) -> JournalError:
    """The error of a journal that cannot be used, naming the cause's type (no data)."""
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return JournalError(f"journal {path} failed: {text}")


def open_file(
    path: Path,
    campaign_id: str | None,
    *,
    lease: bool,
    read_only: bool,
    busy_timeout: float,
    pragmas: Mapping[str, str],
) -> JournalFile:
    """Open the journal at ``path``: a run's (``lease``) bound to ``campaign_id``, a shared
    writer's (a tracker), or a reader's (``read_only``).

    Raises:
        JournalError: In use by another run, not a journal, another campaign's, or the file
            cannot be read or written.
    """
    held = _take_lease(path) if lease else None
    try:
        if read_only:
            conn, salt = _connect_read_only(path, busy_timeout)
        else:
            conn, salt = _connect(path, campaign_id, busy_timeout, pragmas)
    except BaseException:
        if held is not None:
            held.release()
        raise
    return JournalFile(conn, salt, held)


def _take_lease(path: Path) -> Lease:
    try:
        return Lease.take(path)
    except LeaseTaken as exc:
        raise JournalError(
            f"journal {path} is in use by another run (locked: {exc}): one run at a time "
            "sends a campaign; wait for it to end"
        ) from None
    except OSError as exc:
        raise failure(path, exc) from None


def _connect(
    path: Path, campaign_id: str | None, busy_timeout: float, pragmas: Mapping[str, str]
) -> tuple[sqlite3.Connection, bytes]:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    except sqlite3.Error as exc:
        raise failure(path, exc) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        _configure(conn, pragmas)
        conn.execute("PRAGMA journal_mode = WAL")
        salt = _bind(path, conn, campaign_id)
        # From now on a write waits for the lock in begin's loop, not SQLite's handler.
        conn.execute("PRAGMA busy_timeout = 0")
    except BaseException:
        conn.close()
        raise
    return conn, salt


def _configure(conn: sqlite3.Connection, pragmas: Mapping[str, str]) -> None:
    """The settings of every connection that writes a journal (the file is in WAL mode)."""
    for name, value in pragmas.items():
        conn.execute(f"PRAGMA {name} = {value}")
    conn.execute("PRAGMA synchronous = NORMAL")
    # Checkpoints (which wait for the disk) run in the journal's thread, never inside a
    # COMMIT: a pending row is then on the wire moments after it is durable, which is the
    # window a crash can leave "unknown" but never written.
    conn.execute("PRAGMA wal_autocheckpoint = 0")


def connect_writer(path: Path, pragmas: Mapping[str, str]) -> sqlite3.Connection:
    """A second connection to a journal ``open_file`` opened (and bound), for the rows the
    event loop commits itself (see ``_journal``). It waits for the write lock in ``begin``.

    Raises:
        JournalError: The file cannot be opened.
    """
    try:
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=rw",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=0,
        )
    except sqlite3.Error as exc:
        raise failure(path, exc) from exc
    try:
        _configure(conn, pragmas)
    except sqlite3.Error as exc:
        conn.close()
        raise failure(path, exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_read_only(path: Path, busy_timeout: float) -> tuple[sqlite3.Connection, bytes]:
    """Open an existing journal to read it (nothing created, nothing written); anything but
    a journal is refused.

    Not ``mode=ro``: a read-only connection to a WAL database leaves its ``-wal`` and ``-shm``
    files behind. ``mode=rw`` creates no file, ``query_only`` refuses every write, and the
    last connection to close removes the WAL files as a writer's would.
    """
    not_a_journal = f"{path} is not a d360-async campaign journal"
    try:
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=rw", uri=True, check_same_thread=False, timeout=0
        )
    except sqlite3.Error as exc:
        raise failure(path, exc) from exc
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        if meta.get("format") != _FORMAT:
            raise JournalError(not_a_journal)
        if "deliveries" not in tables:
            raise JournalError(
                f"journal {path} was written before delivery tracking: open it once with a "
                "DeliveryTracker (or a run) to add it"
            )
    except sqlite3.DatabaseError as exc:  # not SQLite at all
        conn.close()
        raise JournalError(not_a_journal) from exc
    except BaseException:
        conn.close()
        raise
    return conn, bytes(meta["salt"])


def _bind(path: Path, conn: sqlite3.Connection, campaign_id: str | None) -> bytes:
    """Check or write the journal's identity, in one write transaction (which is also the
    proof that the file can be written before anything is sent); returns its digest key."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        if "messages" in tables and "meta" not in tables:
            raise JournalError(
                f"journal {path} was written by an older d360-async: finish that campaign "
                "with it, or start a new journal"
            )
        for statement in _SCHEMA.split(";"):  # not executescript(): it would COMMIT
            if statement.strip():
                conn.execute(statement)
        add_delivery_tables(conn)
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        if meta and meta.get("format") != _FORMAT:
            raise JournalError(f"{path} is not a d360-async campaign journal")
        bound = meta.get("campaign_id")
        if campaign_id is not None and bound is not None and bound != campaign_id:
            raise JournalError(
                f"journal {path} belongs to campaign {bound!r}, not {campaign_id!r}: use "
                "another journal for another campaign"
            )
        salt = meta.get("salt") or os.urandom(_SALT_BYTES)
        updates: dict[str, Any] = {"format": _FORMAT, "salt": salt, "opened": time.time()}
        if campaign_id is not None and bound is None:
            updates["campaign_id"] = campaign_id
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(updates.items()),
        )
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        rollback(conn)
        raise failure(path, exc) from exc
    except BaseException:
        rollback(conn)
        raise
    return bytes(salt)


def begin(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """``BEGIN IMMEDIATE``, trying every millisecond up to ``busy_timeout`` seconds.

    Another connection (a campaign's writer, a ``DeliveryTracker``) commits batch after
    batch, leaving the lock free for short gaps; SQLite's own busy handler sleeps up to
    100 ms between tries and can miss every gap for seconds.

    Raises:
        sqlite3.OperationalError: The lock was not free within ``busy_timeout``.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(_BUSY_POLL)


def rollback(conn: sqlite3.Connection) -> None:
    """End the connection's transaction, if any: nothing it did is kept, its lock is freed."""
    if conn.in_transaction:
        # Never raises: it runs after a failure, on the journal's thread (where an exception
        # would end the thread and leave every waiting future unanswered) or the loop's. A
        # ROLLBACK that fails (an I/O or memory error) leaves the transaction to the
        # connection's close, which discards it.
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")


def pragma_value(name: object, value: object) -> str:
    """``PRAGMA name = value`` text, for plain names and values only (no SQL gets in).

    Raises:
        ValidationError: Not a plain name, or not an integer or a word.
    """
    if not isinstance(name, str) or not name.replace("_", "").isalnum() or not name.isascii():
        raise ValidationError("pragmas", f"not a pragma name: {name!r}")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValidationError(f"pragmas.{name}", "must be an integer or a word")
    text = str(value)
    if not (text.isascii() and (text.isalnum() or text.lstrip("-").isdigit())):
        raise ValidationError(f"pragmas.{name}", "must be an integer or a word")
    return text
