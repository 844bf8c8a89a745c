"""Pieces of the command line that need no server: parsing, input files, phone numbers."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from d360_async.cli import main
from d360_async.cli._common import UsageError, check_phone
from d360_async.cli._rows import InputFile

from .conftest import write


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("+49 151 2345678", None),
        ("(49) 151-234.5678", None),
        ("4915123456789012", "has 16 digits; expected 8 to 15"),
        ("+49 151", "has 5 digits; expected 8 to 15"),
        ("", "is empty"),
        ("0049 151 2345678", "starts with 0: write it with the country code (+49 151 ...)"),
        (
            "+49 151 234567\uff18",  # a full-width 8
            "contains characters other than digits, +, spaces, dashes, dots and brackets",
        ),
    ],
)
def test_check_phone(number: str, problem: str | None) -> None:
    assert check_phone(number) == problem


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
