"""A journal belongs to one campaign (#10 item 4): another campaign is refused before any
request, the same campaign resumes, and the file holds no phone number."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from d360_async import BulkReport, D360Client, JournalError, RetryPolicy, SendStatus
from d360_async.testing import Emulator

from .conftest import WELCOME, number, welcome


def digest_messages(n: int) -> list[dict[str, Any]]:
    """The same recipients as ``welcome(n)``, another template."""
    return [
        {"to": number(i), "template": {"name": "weekly_digest", "language": {"code": "en_GB"}}}
        for i in range(n)
    ]


def journal_bytes(folder: Path) -> bytes:
    """The journal's database and WAL files, as stored."""
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("j.sqlite"))


def sends(emu: Emulator) -> int:
    return emu.requests["send-marketing-message"]


async def test_a_journal_reused_with_another_template_is_refused_before_any_request(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    journal = tmp_path / "summer.sqlite"
    first = await client.send_bulk(welcome(50), journal=journal).run()
    assert first.sent == 50
    before = sends(emu)

    with pytest.raises(JournalError, match="another campaign") as info:
        await client.send_bulk(digest_messages(2_000), journal=journal).run()

    assert sends(emu) == before
    assert "message 0" in str(info.value)
    assert number(0) not in str(info.value)  # no phone number in the error
    # The same campaign resumes: what was sent is skipped, the rest goes out.
    again = await client.send_bulk(welcome(80), journal=journal).run()
    assert (again.sent, again.skipped) == (30, 50)
    assert emu.accepted_counts() == {number(i): 1 for i in range(80)}


async def test_another_template_is_refused_even_when_the_first_rows_are_missing(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    await client.send_bulk(welcome(100, start=0), journal=journal).run()
    before = sends(emu)
    # Other messages at the same positions, without preflight holding anything back.
    with pytest.raises(JournalError, match="another campaign"):
        await client.send_bulk(digest_messages(100), journal=journal, preflight=False).run()
    assert sends(emu) == before


async def test_changed_parameters_are_another_campaign(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    await client.send_bulk(welcome(20), journal=journal).run()
    changed = list(welcome(20))
    changed[7] = WELCOME.build(number(7), body=["someone else"])  # same recipient, new text
    with pytest.raises(JournalError, match="message 7"):
        await client.send_bulk(changed, journal=journal).run()
    assert sends(emu) == 20


async def test_an_explicit_campaign_id_binds_the_journal(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    await client.send_bulk(welcome(10), journal=journal, campaign_id="spring-2026").run()
    with pytest.raises(JournalError, match="'spring-2026'") as info:
        await client.send_bulk(welcome(10), journal=journal, campaign_id="summer-2026").run()
    assert "summer-2026" in str(info.value)
    assert sends(emu) == 10
    resumed = await client.send_bulk(welcome(12), journal=journal, campaign_id="spring-2026").run()
    assert (resumed.sent, resumed.skipped) == (2, 10)


async def test_the_journal_file_holds_no_phone_number(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    journal = tmp_path / "j.sqlite"
    emu.set_recipient_error(number(3), 131050)
    async with client.send_bulk(welcome(40), journal=journal, concurrency=4) as run:
        async for _ in run:
            pass
    data = journal_bytes(tmp_path)
    assert data, "no journal written"
    for i in range(40):
        assert number(i).encode() not in data
        assert f"friend {i}".encode() not in data
    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT idx, status, message_id FROM messages ORDER BY idx").fetchall()
    assert [status for _, status, _ in rows].count("failed") == 1
    assert all(message_id for _, status, message_id in rows if status == "sent")


async def test_the_journal_finds_a_row_by_message_id(emu: Emulator, tmp_path: Path) -> None:
    from d360_async import SQLiteJournal

    path = tmp_path / "j.sqlite"
    async with D360Client(
        emu.api_key, base_url=emu.url, rate_limit=None, retry=RetryPolicy(wait=False)
    ) as client:
        results = [r async for r in client.send_bulk(welcome(5), journal=path)]
    wamid = next(r.message_id for r in results if r.index == 3)
    assert wamid is not None
    journal = SQLiteJournal(path)
    await journal.open(None)
    try:
        row = await journal.find_message(wamid)
        missing = await journal.find_message("wamid.nope")
    finally:
        await journal.close()
    assert row is not None and (row.index, row.status) == (3, "sent")
    assert row.recipient == journal.digest(number(3).encode())
    assert missing is None
    assert {r.status for r in results} == {SendStatus.SENT}


async def first_rows_failing(
    emu: Emulator, client: D360Client, journal: Path, n: int, failing: int
) -> BulkReport:
    """Send ``welcome(n)`` with the first ``failing`` recipients refused (131026)."""
    for i in range(failing):
        emu.set_recipient_error(number(i), 131026)
    try:
        return await client.send_bulk(welcome(n), journal=journal).run()
    finally:
        for i in range(failing):
            emu.set_recipient_error(number(i), None)


async def test_another_campaign_is_refused_before_any_request_when_the_first_rows_failed(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    """Core review item 3: the first rows of the journal are ``failed`` (no evidence either
    way); the other campaign is refused at the first row that was written, before anything
    is sent, and the journal keeps the first campaign's rows."""
    journal = tmp_path / "j.sqlite"
    first = await first_rows_failing(emu, client, journal, 100, 50)
    assert (first.sent, first.failed) == (50, 50)
    before = sends(emu)
    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT * FROM messages ORDER BY idx").fetchall()

    other = [
        WELCOME.build(number(i), body=["another campaign"]) for i in reversed(range(100))
    ]  # other recipients at the first positions, other parameters
    with pytest.raises(JournalError, match="another campaign"):
        await client.send_bulk(other, journal=journal, preflight=False, concurrency=4).run()
    assert sends(emu) == before
    with sqlite3.connect(journal) as conn:
        assert conn.execute("SELECT * FROM messages ORDER BY idx").fetchall() == rows


async def test_the_same_campaign_with_its_failed_first_rows_fixed_resumes(
    emu: Emulator, client: D360Client, tmp_path: Path
) -> None:
    """Rows that failed may be fixed (another number, other parameters) before a re-run:
    that is no evidence of another campaign; the unchanged rows and the sent ones are."""
    journal = tmp_path / "j.sqlite"
    first = await first_rows_failing(emu, client, journal, 30, 10)
    assert (first.sent, first.failed) == (20, 10)
    fixed = list(welcome(30))
    fixed[:10] = [WELCOME.build(number(1000 + i), body=["fixed"]) for i in range(10)]
    again = await client.send_bulk(fixed, journal=journal).run()
    assert (again.sent, again.skipped) == (10, 20)
    assert sends(emu) == 40
