"""Reading the input of ``d360 send`` and ``d360 events``: CSV or JSON Lines, streamed.

A record is numbered twice: ``row`` counts data records from 1 (a CSV header is not a row,
blank lines are skipped) and ``line`` is the line of the file where the record starts. Both
appear in every error, e.g. ``customers.csv row 17 (line 18)``.

Files as spreadsheets and shops export them are read as they are: a UTF-8 byte-order mark,
CRLF line ends, ``,`` ``;`` tab or ``|`` separators, blank lines, quoted fields spanning lines.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import attrs

from ._common import UsageError

__all__ = ["InputFile", "Record"]

_JSONL_SUFFIXES: Final = (".jsonl", ".ndjson", ".json")
_DELIMITERS: Final = (",", ";", "\t", "|")
#: Splits after a CR that no LF follows: a line end of its own.
_CR_LINES: Final = re.compile(rb"(?<=\r)(?!\n)")


@attrs.frozen
class Record:
    """One input record.

    Attributes:
        row: Its number among the data records, from 1.
        line: The line of the file where it starts.
        values: Column (or key) → value; CSV values are strings. A CSV row shorter than the
            header lacks the last columns.
        problem: Why the record could not be read (only when reading leniently: a CSV row
            with more fields than the header has columns, a line that is not a JSON object).
    """

    row: int
    line: int
    values: dict[str, Any]
    problem: str | None = None


def _holds_rows(fields: list[str], delimiter: str, columns: int) -> bool:
    """Whether a value spanning lines has a line with a row's separators: the rows an unclosed
    quote swallowed (a name or address on two lines has none)."""
    return any(
        part.count(delimiter) >= columns - 1
        for value in fields
        if "\n" in value or "\r" in value
        for part in value.splitlines()[1:]
    )


class InputFile:
    """A CSV or JSON Lines file (by its suffix: ``.jsonl``, ``.ndjson``, ``.json`` are JSON
    Lines), read lazily as many times as needed.

    Args:
        path: The file, as the user wrote it (errors quote it so).

    Example:
        >>> InputFile("customers.csv").kind, InputFile("events.jsonl").kind
        ('csv', 'jsonl')
    """

    def __init__(self, path: str) -> None:
        self.name = path
        self.path = Path(path)
        self.kind = "jsonl" if self.path.suffix.lower() in _JSONL_SUFFIXES else "csv"

    def where(self, record: Record) -> str:
        """``customers.csv row 17 (line 18)``."""
        return f"{self.name} row {record.row} (line {record.line})"

    def unreadable(self, record: Record) -> str:
        """Where and why a record could not be read: ``events.jsonl line 3: invalid JSON``."""
        where = f"{self.name} line {record.line}" if self.kind == "jsonl" else self.where(record)
        return f"{where}: {record.problem}"

    def _open(self) -> IO[bytes]:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise UsageError(f"cannot read {self.name}: {exc.strerror or exc}") from exc

    def _lines(self, stream: IO[bytes]) -> Iterator[str]:
        """The file's lines, decoded one by one so that an error names its line (a UTF-8
        character never spans a newline byte). A line ends with LF, CRLF or a lone CR (old
        Mac exports), which stays at its end as the csv module expects. A byte-order mark is
        dropped."""
        number = 0
        for chunk in stream:
            for raw in _CR_LINES.split(chunk) if b"\r" in chunk else (chunk,):
                if not raw:
                    continue
                number += 1
                try:
                    yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise UsageError(f"{self.name} is not UTF-8 text (line {number})") from exc

    def columns(self) -> list[str] | None:
        """The CSV header (None for JSON Lines, whose keys may differ per line)."""
        if self.kind == "jsonl":
            return None
        with self._open() as stream:
            return self._header(self._lines(stream))[0]

    def _header(self, lines: Iterator[str]) -> tuple[list[str], str]:
        first = next(lines, "")
        if not first.strip():
            raise UsageError(f"{self.name} is empty: its first line should name the columns")
        delimiter = max(_DELIMITERS, key=first.count)
        if first.count(delimiter) == 0:
            delimiter = ","
        try:
            fields = next(csv.reader([first], delimiter=delimiter, strict=True))
        except csv.Error as exc:
            raise UsageError(f"{self.name} line 1 (the header): {exc}") from exc
        header = [name.strip() for name in fields]
        seen: set[str] = set()
        for name in header:
            if not name:
                raise UsageError(f"{self.name} has a column without a name in its header")
            if name in seen:
                raise UsageError(f"{self.name} has two columns named {name!r}")
            seen.add(name)
        return header, delimiter

    def records(self, *, lenient: bool = False) -> Iterator[Record]:
        """Every record, in file order.

        Args:
            lenient: Yield a record that cannot be read with its ``problem`` instead of
                raising, so that one pass finds every bad record.

        Raises:
            UsageError: The file cannot be read or decoded, or (unless ``lenient``) a record
                cannot be parsed; the message names the line.
        """
        with self._open() as stream:
            lines = self._lines(stream)
            for record in self._jsonl(lines) if self.kind == "jsonl" else self._csv(lines):
                if record.problem is not None and not lenient:
                    raise UsageError(self.unreadable(record))
                yield record

    def _csv(self, lines: Iterator[str]) -> Iterator[Record]:
        header, delimiter = self._header(lines)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        row = 0
        previous = 1  # the header's line
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # the file's structure is broken: no row after is known
                start, end = previous + 1, reader.line_num + 1
                where = f"{self.name} row {row + 1} (line {start})"
                if end > start:
                    raise UsageError(
                        f"{where}: lines {start}-{end} read as one row, then {exc}: an unclosed "
                        "quote? (a quote opens a value that runs to the next quote)"
                    ) from exc
                raise UsageError(f"{where}: {exc}") from exc
            line, previous = previous + 1, reader.line_num + 1
            if not fields or all(not f.strip() for f in fields):
                continue
            row += 1
            record = Record(row, line, dict(zip(header, fields, strict=False)))
            if len(fields) > len(header):
                problem = f"{len(fields)} fields, but the header has {len(header)} columns"
                record = attrs.evolve(record, problem=problem)
            elif previous > line and _holds_rows(fields, delimiter, len(header)):
                problem = (
                    f"a value spans lines {line}-{previous} and holds what look like rows: an "
                    "unclosed quote?"
                )
                record = attrs.evolve(record, problem=problem)
            yield record

    def _jsonl(self, lines: Iterator[str]) -> Iterator[Record]:
        row = 0
        for line, text in enumerate(lines, 1):
            if not text.strip():
                continue
            row += 1
            try:
                value = json.loads(text)
            except ValueError as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                yield Record(row, line, {}, f"invalid JSON ({reason})")
                continue
            if not isinstance(value, dict):
                yield Record(row, line, {}, "expected a JSON object per line")
                continue
            yield Record(row, line, value)
