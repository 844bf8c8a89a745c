"""Pieces of the command line that need no server: parsing, input files, phone numbers."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from d360_async.cli import main
from d360_async.cli._checks import Invalid, Problem, RowChecker, recipient_number
from d360_async.cli._common import UsageError
from d360_async.cli._rows import InputFile, Record

from .conftest import write


@pytest.mark.parametrize(
    ("number", "country_code", "expected"),
    [
        ("+49 151 2345678", None, "+491512345678"),
        ("(49) 151-234.5678", None, None),  # brackets without +: a national area code
        ("0049 151 2345678", None, "+491512345678"),
        ("00491511000002", None, "+491511000002"),
        ("+49 (0)151 2345678", None, "+491512345678"),
        ("0151 2345678", "49", "+491512345678"),
        ("0151/2345678", "49", "+491512345678"),
        ("(650) 555-1212", "1", "+16505551212"),
        ("1512345678", "49", "+1512345678"),  # no trunk 0: international as written (F3)
        ("491512345678", "49", "+491512345678"),
        ("4915123456789012", None, None),
        ("+49 151", None, None),
        ("", None, None),
        ("0151 2345678", None, None),
        ("+49 151 234567\uff18", None, None),  # a full-width 8
        ("+49 151 1234567x", None, None),
        ("1" * 64, None, None),  # 64 digits look like a SHA-256 digest: still not a number
    ],
)
def test_recipient_number(number: str, country_code: str | None, expected: str | None) -> None:
    if expected is not None:
        assert recipient_number(number, country_code) == expected
        return
    with pytest.raises(Invalid) as caught:
        recipient_number(number, country_code)
    assert number.strip() == "" or number not in caught.value.reason


def test_csv_rows_and_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        '\ufeffto;name\n\n+491511;"Ada\nLovelace"\n+491512;Grace\n',
    )
    source = InputFile(str(path))

    records = list(source.records())

    assert source.columns() == ["to", "name"]
    assert [(r.row, r.line) for r in records] == [(1, 3), (2, 5)]
    assert records[0].values == {"to": "+491511", "name": "Ada\nLovelace"}
    assert source.where(records[1]) == f"{path} row 2 (line 5)"


def test_csv_with_too_many_fields(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "to,name\n+491511,Ada\n+491512,Grace,extra\n")

    with pytest.raises(UsageError) as caught:
        list(InputFile(str(path)).records())

    assert str(caught.value) == f"{path} row 2 (line 3): 3 fields, but the header has 2 columns"


def test_jsonl_must_hold_objects(tmp_path: Path) -> None:
    path = write(tmp_path / "e.jsonl", '{"a": 1}\n[1, 2]\n')

    with pytest.raises(UsageError) as caught:
        list(InputFile(str(path)).records())

    assert str(caught.value) == f"{path} line 2: expected a JSON object per line"


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["send", "--template", "x"]) == 2
    assert main(["insights", "act_1", "--format", "xml"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "d360: error: the following arguments are required: COMMAND (see 'd360 --help')",
        "d360: error: the following arguments are required: --language, --csv/--file "
        "(see 'd360 send --help')",
        "d360: error: argument --format: invalid choice: 'xml' (choose from 'table', 'csv', "
        "'json') (see 'd360 insights --help')",
    ]


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "--help"]) == 0
    assert "--param-columns COLUMN [COLUMN ...]" in capsys.readouterr().out


async def test_the_sdk_does_not_import_rich() -> None:
    code = "import sys, d360_async, d360_async.testing; sys.exit('rich' in sys.modules)"
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
    assert await process.wait() == 0


async def test_without_rich_the_cli_says_how_to_get_it() -> None:
    code = (
        "import sys; sys.modules['rich'] = None; from d360_async.cli import main; "
        "sys.exit(main(['templates', 'list']))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stderr=asyncio.subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 2
    assert (
        err.decode() == "d360: error: the command line needs rich: pip install 'd360-async[cli]'\n"
    )


def test_lenient_reading_yields_every_unreadable_record(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "c.csv", "to,name\n+491511,Ada,extra\n+491512\n+491513,Grace\n")
    jsonl_path = write(tmp_path / "e.jsonl", '{"to": "+491511"}\nnot json\n[1]\n{"to": 1}\n')

    csv_records = list(InputFile(str(csv_path)).records(lenient=True))
    jsonl_records = list(InputFile(str(jsonl_path)).records(lenient=True))

    assert [r.problem for r in csv_records] == [
        "3 fields, but the header has 2 columns",
        None,
        None,
    ]
    assert csv_records[1].values == {"to": "+491512"}  # the missing cell is absent
    assert [(r.row, r.line, r.problem) for r in jsonl_records] == [
        (1, 1, None),
        (2, 2, "invalid JSON (Expecting value)"),
        (3, 3, "expected a JSON object per line"),
        (4, 4, None),
    ]


def test_the_checker_reports_every_problem_of_a_row() -> None:
    checker = RowChecker(to_column="to", params=["name", "code"], default_country_code=None)

    problems = checker.check(Record(7, 9, {"to": "0151 2345678", "name": " "}), csv_file=True)
    valid = checker.check(
        Record(8, 10, {"to": 4915123456789, "name": "Zoë", "code": 7}), csv_file=False
    )

    assert problems == [
        Problem(7, 9, "to", "invalid phone number: looks like a national number and has no "
                "country code: write it with + and its country code, or pass "
                "--default-country-code"),
        Problem(7, 9, "name", "is empty (a body parameter cannot be blank)"),
        Problem(7, 9, "code", "is missing (the row has fewer fields than the header)"),
    ]  # fmt: skip
    assert valid == ("+4915123456789", ["Zoë", "7"])


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_an_argument_error(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["emulator", "--port", port]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("d360: error: argument --port: ")
    assert "unexpected" not in line
