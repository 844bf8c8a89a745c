"""``d360 send`` with a file as real exports are: a byte-order mark, CRLF, ``;``, ``0049...``,
national numbers, blank cells, a missing cell, unicode. Every problem is found in one pass and
reported without the values; ``--skip-invalid`` sends the rest and keeps row numbers stable."""

from __future__ import annotations

import csv
import hashlib
import re
import time
from pathlib import Path

import pytest

from d360_async.testing import Emulator

from .conftest import SECRET_KEY, d360

PROMO = ("--template", "spring_promo", "--language", "en_US")
PARAMS = ("--param-columns", "first_name", "discount")

#: (row, line, text of the row); blank line 5 is not a row.
MESSY_ROWS = (
    "+49 151 10000001;Zoë;20 %",  # row 1 (line 2)
    "00491511000002;Łukasz;15 %",  # row 2 (line 3): 00 is the international prefix
    "0151 10000003;Ana;10 %",  # row 3 (line 4): national, needs a country code
    "",  # line 5: blank, not a row
    "+49 151 10000004;  ;10 %",  # row 4 (line 6): blank first_name
    "+49 151 10000005;Émile",  # row 5 (line 7): the discount cell is missing
    '+49 (0)151 10000006;"李雷 ""Lei""";5 %',  # row 6 (line 8): trunk 0 in brackets
    "+49 151 1000000x;Bob;5 %",  # row 7 (line 9): a letter in the number
    "+49 151 10000001;Zoë again;20 %",  # row 8 (line 10): row 1's recipient again
)
#: What must never be printed: the numbers and names of the invalid rows.
PII = ("10000003", "1000000x", "10000004", "10000005", "Émile", "Bob", "Ana")


def messy_csv(path: Path, rows: tuple[str, ...] = MESSY_ROWS) -> Path:
    text = "\ufeffphone;first_name;discount\r\n" + "".join(f"{row}\r\n" for row in rows)
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def promo(d360_emulator: Emulator) -> Emulator:
    d360_emulator.add_template("spring_promo", "en_US", body_text="Hi {{1}}, {{2}} off today!")
    return d360_emulator


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if re.search(r" row \d+ \(line \d+\)", line)]


async def test_every_problem_of_every_row_in_one_pass_without_values(
    promo: Emulator, tmp_path: Path
) -> None:
    source = messy_csv(tmp_path / "messy.csv")

    run = await d360("send", *PROMO, *PARAMS, "--csv", source, emulator=promo)

    assert run.code == 2
    assert problem_lines(run.err) == [
        f"{source} row 3 (line 4), column 'phone': invalid phone number: looks like a national "
        "number and has no country code: write it with + and its country code, or pass "
        "--default-country-code",
        f"{source} row 4 (line 6), column 'first_name': is empty (a body parameter cannot be "
        "blank)",
        f"{source} row 5 (line 7), column 'discount': is missing (the row has fewer fields than "
        "the header)",
        f"{source} row 7 (line 9), column 'phone': invalid phone number: contains characters "
        "other than digits, +, spaces, dashes, dots, slashes and brackets",
    ]
    assert run.error_line == (
        f"d360: error: {source}: 4 of 8 rows are invalid (listed above); nothing was sent. "
        "Fix them, or pass --skip-invalid to send the 4 valid rows and write the invalid ones "
        f"to {tmp_path / 'messy.rejected.csv'}"
    )
    assert not any(value in run.err for value in PII)
    assert promo.requests["send-marketing-message"] == 0
    assert not (tmp_path / "messy.rejected.csv").exists()


async def test_skip_invalid_sends_the_valid_rows_and_writes_the_rejected_ones(
    promo: Emulator, tmp_path: Path
) -> None:
    source = messy_csv(tmp_path / "messy.csv")
    results = tmp_path / "results.csv"

    run = await d360(
        "send", *PROMO, *PARAMS, "--csv", source, "--default-country-code", "49",
        "--skip-invalid", "--results", results, emulator=promo,
    )  # fmt: skip

    assert run.code == 0, run.err
    assert "summary: sent=4 failed=0 skipped=4 unknown=0 " in run.out
    assert promo.accepted_counts() == {
        "4915110000001": 1,
        "491511000002": 1,
        "4915110000003": 1,
        "4915110000006": 1,
    }
    sent = {m.wa_id: m.components[-1]["parameters"] for m in promo.sent_messages}
    assert [p["text"] for p in sent["4915110000001"]] == ["Zoë", "20 %"]
    assert [p["text"] for p in sent["4915110000006"]] == ['李雷 "Lei"', "5 %"]
    rejected = tmp_path / "messy.rejected.csv"
    assert read_csv(rejected) == [
        {
            "row": "4",
            "line": "6",
            "column": "first_name",
            "reason": "is empty (a body parameter cannot be blank)",
        },
        {
            "row": "5",
            "line": "7",
            "column": "discount",
            "reason": "is missing (the row has fewer fields than the header)",
        },
        {
            "row": "7",
            "line": "9",
            "column": "phone",
            "reason": "invalid phone number: contains characters other than digits, +, "
            "spaces, dashes, dots, slashes and brackets",
        },
    ]
    assert not any(value in rejected.read_text(encoding="utf-8") for value in PII)
    assert f"3 invalid rows not sent: see {rejected}" in run.err
    assert not any(value in run.err for value in PII)
    outcome = {r["row"]: (r["status"], r["error"]) for r in read_csv(results)}
    assert sorted(outcome, key=int) == [str(row) for row in range(1, 9)]
    assert outcome["2"][0] == outcome["3"][0] == outcome["6"][0] == "sent"
    assert outcome["4"] == (
        "skipped",
        "invalid row: column 'first_name': is empty (a body parameter cannot be blank)",
    )
    assert outcome["8"] == ("skipped", "duplicate recipient")


async def test_fixed_rows_are_sent_on_a_rerun_with_the_same_journal(
    promo: Emulator, tmp_path: Path
) -> None:
    source = messy_csv(tmp_path / "messy.csv")
    journal = tmp_path / "spring.sqlite"
    flags = ("--default-country-code", "49", "--skip-invalid", "--journal", journal)
    first = await d360("send", *PROMO, *PARAMS, "--csv", source, *flags, emulator=promo)
    fixed = list(MESSY_ROWS)
    fixed[4] = "+49 151 10000004;Maja;10 %"
    fixed[5] = "+49 151 10000005;Émile;5 %"
    fixed[7] = "+49 151 10000007;Bob;5 %"
    messy_csv(source, tuple(fixed))

    second = await d360("send", *PROMO, *PARAMS, "--csv", source, *flags, emulator=promo)

    assert (first.code, second.code) == (0, 0), second.err
    assert "summary: sent=3 failed=0 skipped=5 unknown=0 " in second.out
    assert promo.duplicate_recipients() == {}
    assert len(promo.sent_messages) == 7


async def test_many_bad_rows_the_first_twenty_and_a_count_per_kind(
    promo: Emulator, tmp_path: Path
) -> None:
    rows = [f"+49 151 2{i:07d};Name {i};10 %" for i in range(1000)]
    for i in range(1, 302):
        rows[i] = f"+49 151 2{i:07d};;10 %"  # rows 2-302: blank first_name
    for i in range(400, 418):
        rows[i] = f"0151 2{i:07d};Name {i};10 %"  # rows 401-418: national numbers
    source = messy_csv(tmp_path / "many.csv", tuple(rows))

    run = await d360("send", *PROMO, *PARAMS, "--csv", source, emulator=promo)
    verbose = await d360("send", *PROMO, *PARAMS, "--csv", source, "--verbose", emulator=promo)

    assert run.code == verbose.code == 2
    listed = problem_lines(run.err)
    assert len(listed) == 20
    assert listed[0].startswith(f"{source} row 2 (line 3), column 'first_name': is empty")
    assert "... and 299 more problems (--verbose lists every one)" in run.err
    assert "301 rows (2-302): column 'first_name': is empty" in run.err
    assert "18 rows (401-418): column 'phone': invalid phone number: looks like a national" in (
        run.err
    )
    assert run.error_line.startswith(f"d360: error: {source}: 319 of 1,000 rows are invalid")
    assert len(problem_lines(verbose.err)) == 319
    assert "Traceback" not in verbose.err
    assert promo.requests["send-marketing-message"] == 0


async def test_a_traceback_only_with_debug(tmp_path: Path) -> None:
    env = {"D360_API_KEY": SECRET_KEY, "D360_BASE_URL": "http://127.0.0.1:9"}  # nobody listens

    verbose = await d360("templates", "list", "--verbose", "--retries", "0", env=env)
    debug = await d360("templates", "list", "--debug", "--retries", "0", env=env)

    assert verbose.code == debug.code == 1
    assert "Traceback" not in verbose.err
    assert verbose.error_line.startswith("d360: error: cannot reach http://127.0.0.1:9")
    assert "Traceback" in debug.err
    assert debug.error_line == verbose.error_line


async def test_events_with_national_numbers_and_a_default_country_code(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    now = int(time.time()) - 60
    source = tmp_path / "day.csv"
    source.write_bytes(
        (
            "\ufeffevent_name;event_time;event_id;ph;fn;currency;value\r\n"
            f"Purchase;{now};o-1;0151 10000001;Zoë;EUR;10\r\n"
            "\r\n"
            f"Purchase;{now};o-2;00491511000002;;EUR;12.5\r\n"
        ).encode()
    )

    without = await d360("events", "--dataset", "777", "--file", source, emulator=d360_emulator)
    run = await d360(
        "events", "--dataset", "778", "--file", source, "--default-country-code", "49",
        emulator=d360_emulator,
    )  # fmt: skip

    def digests(node: str) -> set[str]:
        return {d for e in d360_emulator.events[node] for d in e.data["user_data"]["ph"]}

    def sha(*numbers: bytes) -> set[str]:
        return {hashlib.sha256(number).hexdigest() for number in numbers}

    assert without.code == run.code == 0, without.err + run.err
    assert "received=2 rejected=0 failed=0 of 2 events" in run.out
    # Without a country code, Meta's rule drops the trunk 0: a number nobody has.
    assert digests("777") == sha(b"15110000001", b"491511000002")
    assert digests("778") == sha(b"4915110000001", b"491511000002")
    assert "10000001" not in without.err + run.err


async def test_every_unreadable_line_of_an_events_file_in_one_pass(
    d360_emulator: Emulator, tmp_path: Path
) -> None:
    lines = ['{"event_name": "Purchase", "event_time": 1}'] * 30
    for at in (2, 5, 9):
        lines[at] = '{"event_name": "Purchase", "em": "ada@example.com"'  # cut short
    lines[12] = '["not", "an", "object"]'
    source = tmp_path / "events.jsonl"
    source.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")

    run = await d360("events", "--dataset", "777", "--file", source, emulator=d360_emulator)

    assert run.code == 2
    assert run.err.splitlines()[:4] == [
        f"{source} line 3: invalid JSON (Expecting ',' delimiter)",
        f"{source} line 6: invalid JSON (Expecting ',' delimiter)",
        f"{source} line 10: invalid JSON (Expecting ',' delimiter)",
        f"{source} line 13: expected a JSON object per line",
    ]
    assert run.error_line == (
        f"d360: error: {source}: 4 of 30 records cannot be read (listed above); nothing was sent"
    )
    assert "ada@example.com" not in run.err
    assert d360_emulator.requests["post-conversion-events"] == 0
