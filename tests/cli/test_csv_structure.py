"""A CSV whose structure is broken is never read as fewer rows: an unclosed quote that would
swallow the rows after it is an error naming the lines (F4); CR-only line ends are line ends
and a header the csv module cannot parse is an input error, exit code 2 (F11)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from d360_async.cli._common import UsageError
from d360_async.cli._rows import InputFile
from d360_async.testing import Emulator

from .conftest import d360

WELCOME = ("--template", "welcome_offer", "--language", "en_US", "--param-columns", "name")


def rows_with_quote_at(
    path: Path, count: int, quoted: int, *, closed_at: int | None = None
) -> Path:
    """``count`` customers; row ``quoted`` opens a quote it never closes (or that row
    ``closed_at`` closes, as a stray quote that ends a field would)."""
    lines = ["to,name"]
    for row in range(1, count + 1):
        name = f"Customer {row}"
        if row == quoted:
            name = f'"{name}'
        elif row == closed_at:
            name = f'{name}"'
        lines.append(f"+49151{row:08d},{name}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_unclosed_quote_to_the_end_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = rows_with_quote_at(tmp_path / "q.csv", 1000, 5)

    with pytest.raises(UsageError) as caught:
        list(InputFile(str(path)).records(lenient=True))

    message = str(caught.value)
    assert message.startswith(f"{path} row 5 (line 6): ")
    assert "unclosed quote" in message and "lines 6-1001" in message
    assert "+49151" not in message and "Customer" not in message


def test_a_quote_closed_rows_later_makes_the_row_invalid(tmp_path: Path) -> None:
    path = rows_with_quote_at(tmp_path / "q.csv", 20, 5, closed_at=9)

    records = list(InputFile(str(path)).records(lenient=True))

    swallowed = [r for r in records if r.problem is not None]
    assert len(swallowed) == 1
    assert (swallowed[0].row, swallowed[0].line) == (5, 6)
    assert swallowed[0].problem is not None
    assert "lines 6-10" in swallowed[0].problem and "unclosed quote" in swallowed[0].problem
    assert [r.line for r in records] == [2, 3, 4, 5, 6, 11, *range(12, 22)]


def test_a_value_on_two_lines_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "nl.csv"
    path.write_text('to,name\n+491511,"Ada\nLovelace"\n+491512,"Grace, H."\n', encoding="utf-8")

    records = list(InputFile(str(path)).records(lenient=True))

    assert [(r.line, r.problem) for r in records] == [(2, None), (4, None)]
    assert records[0].values["name"] == "Ada\nLovelace"


async def test_send_with_an_unclosed_quote_sends_nobody(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    path = rows_with_quote_at(tmp_path / "q.csv", 1000, 5)

    run = await d360("send", *WELCOME, "--csv", path, "--skip-invalid", emulator=d360_emulator)

    assert run.code == 2, run.err
    assert "unclosed quote" in run.error_line and "lines 6-1001" in run.error_line
    assert d360_emulator.sent_messages == []


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"])
def test_cr_only_line_ends_are_line_ends(tmp_path: Path, end: str) -> None:
    path = tmp_path / "x.csv"
    text = end.join(["to,name", "+491511,Ada", '+491512,"Grace', 'Hopper"', "+491513,Bob", ""])
    path.write_bytes(text.encode())

    source = InputFile(str(path))
    records = list(source.records())

    assert source.columns() == ["to", "name"]
    assert [(r.row, r.line) for r in records] == [(1, 2), (2, 3), (3, 5)]
    assert records[0].values == {"to": "+491511", "name": "Ada"}
    assert records[1].values["name"] == f"Grace{end}Hopper"


def test_a_header_the_csv_module_refuses_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text('to,"name\n+491511,Ada\n', encoding="utf-8")

    with pytest.raises(UsageError) as caught:
        InputFile(str(path)).columns()

    assert str(caught.value).startswith(f"{path} line 1 (the header): ")


async def test_send_and_events_read_a_cr_only_file(d360_emulator: Emulator, tmp_path: Path) -> None:
    customers = tmp_path / "c.csv"
    customers.write_bytes(b"to,name\r+491511111111,Ada\r+491511111112,Bob\r")
    events = tmp_path / "e.csv"
    lead = f"LeadSubmitted,{int(time.time())},a@b.com"
    events.write_bytes(f"event_name,event_time,em\r{lead}\r".encode())

    sent = await d360("send", *WELCOME, "--csv", customers, "--dry-run", emulator=d360_emulator)
    posted = await d360(
        "events", "--dataset", "1340000000000009", "--file", events, emulator=d360_emulator
    )

    assert sent.code == 0, sent.err
    assert "dry run: 2 rows valid" in sent.out
    assert posted.code == 0, posted.err
    assert "summary: received=1 rejected=0 failed=0 of 1 event" in posted.out
