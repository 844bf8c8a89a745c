"""``d360 report --journal F`` (table, CSV, JSON) and ``d360 send --resend-unknown-after``."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
from pathlib import Path

from d360_async import DeliveryTracker
from d360_async._campaign_journal import DeliveryUpdate
from d360_async._journal import SQLiteJournal
from d360_async.testing import Emulator
from tests.cli.conftest import customers, d360

from .conftest import T0, age_rows, journal_with, status_of

WELCOME = ("--template", "welcome_offer", "--language", "en_US", "--param-columns", "name")


async def spring(path: Path) -> Path:
    """A journal: 4 accepted (read, delivered, failed 131049, no status), 1 unknown, 1 failed."""
    await journal_with(
        path,
        [
            (0, "4915100000000", "sent", "wamid.0"),
            (1, "4915100000001", "sent", "wamid.1"),
            (2, "4915100000002", "sent", "wamid.2"),
            (3, "4915100000003", "sent", "wamid.3"),
            (4, "4915100000004", "unknown", None),
            (5, "4915100000005", "failed", None),
        ],
    )
    journal = SQLiteJournal(path)
    await journal.open("spring")
    updates = [("wamid.0", "read", None), ("wamid.1", "delivered", None)]
    updates += [("wamid.2", "failed", 131049), ("wamid.1", "sent", None)]
    await journal.record_deliveries(
        [DeliveryUpdate(message_id=m, status=s, timestamp=T0, error_code=c) for m, s, c in updates]
    )
    await journal.close()
    return path


async def test_report_as_json_csv_and_table(tmp_path: Path) -> None:
    path = await spring(tmp_path / "spring.sqlite")

    as_json = await d360("report", "--journal", path, "--format", "json")
    assert as_json.code == 0, as_json.err
    assert json.loads(as_json.out) == [
        {
            "journal": str(path),
            "campaign_id": "spring",
            "accepted": 4,
            "no_status": 1,
            "sent": 0,
            "delivered": 1,
            "read": 1,
            "failed": 1,
            "failed_by_code": {"131049": 1},
            "unknown": 1,
            "settled": 0,
            "pending": 0,
            "not_sent": 1,
            "skipped": 0,
        }
    ]

    as_csv = await d360("report", "--journal", path, "--journal", path, "--format", "csv")
    assert as_csv.code == 0, as_csv.err
    rows = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert len(rows) == 2
    assert rows[0]["failed_by_code.131049"] == "1"
    assert (rows[0]["accepted"], rows[0]["read"], rows[0]["unknown"]) == ("4", "1", "1")

    table = await d360("report", "--journal", path)
    assert table.code == 0, table.err
    lines = table.out.splitlines()
    assert lines[0].strip() == "delivery report"
    header = lines[1].split()
    assert header[:6] == ["journal", "campaign_id", "accepted", "no_status", "sent", "delivered"]
    assert "131049 1" in table.out


async def test_report_of_a_missing_or_foreign_file(tmp_path: Path) -> None:
    missing = await d360("report", "--journal", tmp_path / "nope.sqlite")
    assert missing.code == 2
    assert missing.error_line == f"d360: error: {tmp_path / 'nope.sqlite'}: no such journal"
    assert not (tmp_path / "nope.sqlite").exists()  # a report creates nothing
    notes = tmp_path / "notes.txt"
    notes.write_text("not a journal " * 200)
    foreign = await d360("report", "--journal", notes)
    assert foreign.code == 2
    assert foreign.error_line == f"d360: error: {notes} is not a d360-async campaign journal"


async def test_send_resends_only_the_unknown_rows_no_status_settled(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = customers(tmp_path / "customers.csv", 5)
    journal = tmp_path / "campaign.sqlite"
    args = ["send", *WELCOME, "--csv", source, "--journal", journal, "--concurrency", "1"]
    # row 1's answer is lost after the server accepted it, row 2's before
    d360_emulator.add_faults(["drop_after", "drop_before"])
    first = await d360(*args, emulator=d360_emulator)
    assert first.code == 1
    assert "sent=3 failed=0 skipped=0 unknown=2" in first.out
    accepted = d360_emulator.sent_messages
    assert len(accepted) == 4
    async with DeliveryTracker(journal) as tracker:  # row 1's status arrives
        counts = await tracker.handle_statuses([status_of(accepted[0], "delivered")])
    assert counts.settled == 1

    too_soon = await d360(*args, "--resend-unknown-after", "3600", emulator=d360_emulator)
    assert "sent=0 failed=0 skipped=4 unknown=1" in too_soon.out
    age_rows(journal, 3600)
    later = await d360(*args, "--resend-unknown-after", "3600", emulator=d360_emulator)
    assert later.code == 0, later.err
    assert "sent=1 failed=0 skipped=4 unknown=0" in later.out
    assert d360_emulator.accepted_counts() == {f"49151{i:08d}": 1 for i in range(1, 6)}

    report = await d360("report", "--journal", journal, "--format", "json")
    (document,) = json.loads(report.out)
    assert (document["accepted"], document["settled"], document["unknown"]) == (5, 1, 0)
    assert (document["delivered"], document["no_status"]) == (1, 4)


async def test_resend_unknown_after_needs_a_journal_and_excludes_resend_unknown(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    source = customers(tmp_path / "customers.csv", 2)
    alone = await d360(
        "send", *WELCOME, "--csv", source, "--resend-unknown-after", "60", emulator=d360_emulator
    )
    assert alone.code == 2
    assert alone.error_line == (
        "d360: error: --resend-unknown-after needs --journal (the campaign's journal)"
    )
    both = await d360(
        "send", *WELCOME, "--csv", source, "--journal", tmp_path / "j.sqlite",
        "--resend-unknown", "--resend-unknown-after", "60", emulator=d360_emulator,
    )  # fmt: skip
    assert both.code == 2
    assert "exclude each other" in both.error_line
    zero = await d360("send", *WELCOME, "--csv", source, "--resend-unknown-after", "0")
    assert zero.code == 2
    assert "--resend-unknown-after: must be a positive number" in zero.err
    assert d360_emulator.sent_messages == []


async def test_report_never_writes_a_file_and_refuses_one_that_is_not_a_journal(
    tmp_path: Path,
) -> None:
    """User review F13: a report opens the file read-only; an SQLite file that is not a
    journal (or an empty file) is refused (exit 2) and left exactly as it was."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    journal = await spring(tmp_path / "spring.sqlite")
    before = {p: p.read_bytes() for p in (other, empty, journal)}

    for path in (other, empty):
        refused = await d360("report", "--journal", path)
        assert refused.code == 2, refused.err
        assert refused.error_line == f"d360: error: {path} is not a d360-async campaign journal"
    report = await d360("report", "--journal", journal, "--format", "json")
    assert report.code == 0, report.err

    assert {p: p.read_bytes() for p in before} == before
    assert sorted(os.listdir(tmp_path)) == [
        "empty.sqlite",
        "other.db",
        "spring.sqlite",
    ]  # no WAL, no lock file left beside them


async def test_resend_unknown_after_without_any_status_recorded_is_refused(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    """User review F8: no tracker was ever attached: exit 2, nothing sent, and the error
    says how to re-send every unknown row knowingly."""
    source = customers(tmp_path / "customers.csv", 4)
    journal = tmp_path / "campaign.sqlite"
    args = ["send", *WELCOME, "--csv", source, "--journal", journal, "--concurrency", "1"]
    d360_emulator.add_faults(["drop_after", "drop_after"])
    first = await d360(*args, "--retries", "0", emulator=d360_emulator)
    assert "sent=2 failed=0 skipped=0 unknown=2" in first.out
    age_rows(journal, 3600)

    refused = await d360(*args, "--resend-unknown-after", "60", emulator=d360_emulator)
    assert refused.code == 2, refused.err
    assert "no delivery status" in refused.err
    assert "--resend-unknown" in refused.err
    assert d360_emulator.accepted_counts() == {f"49151{i:08d}": 1 for i in range(1, 5)}
