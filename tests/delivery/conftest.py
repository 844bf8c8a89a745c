"""Fixtures and helpers of the delivery-tracking tests: an emulator, a client, a receiver
served on loopback, statuses made from what the emulator accepted."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from d360_async import D360Client, JournalRow, MessageBuilder, RetryPolicy, SQLiteJournal
from d360_async.testing import Emulator
from d360_async.testing._records import RecordedSend
from d360_async.webhooks import StatusUpdate, WebhookErrorDetail

WELCOME = MessageBuilder(name="welcome_offer", language="en_US")
#: When the rows of ``journal_with`` were written (Unix seconds).
T0 = 1_767_312_000.0


def number(i: int) -> str:
    return f"49152{i:08d}"


def welcome(n: int, start: int = 0) -> Iterator[Any]:
    for i in range(start, start + n):
        yield WELCOME.build(number(i), body=[f"friend {i}"])


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


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(rate=None, seed=15) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[D360Client]:
    async with D360Client(
        emu.api_key, base_url=emu.url, rate_limit=None, retry=RetryPolicy(wait=False)
    ) as c:
        yield c


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on an ephemeral loopback port; yields its base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
