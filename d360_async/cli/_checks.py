"""The rows of ``d360 send``, checked in one pass: every problem of every row, never a value.

A row is checked for its recipient (a phone number with its country code, or one that
``--default-country-code`` completes) and its body parameters (present, not blank). Problems
name the row, the line and the column, and say what is wrong without repeating the value:
stderr and logs never see a customer's number or name. Without ``--skip-invalid`` the first
problems and a count per kind are listed and nothing is sent; with it, every problem goes to
a rejected-rows file (``row,line,column,reason``) and the valid rows are sent.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import attrs

from d360_async._normalise_common import Invalid
from d360_async._normalise_numbers import phone_digits

from ._common import Context, UsageError, plural
from ._output import CsvFile
from ._rows import InputFile, Record

__all__ = [
    "LISTED",
    "REJECTED_ROW_COLUMNS",
    "Invalid",
    "Problem",
    "RowChecker",
    "Validation",
    "check_file",
    "country_code_arg",
    "default_rejected_path",
    "recipient_number",
    "row_ranges",
]

#: Columns of the rejected-rows file.
REJECTED_ROW_COLUMNS: Final = ("row", "line", "column", "reason")
#: Problems listed on stderr without ``--verbose``.
LISTED: Final = 20
#: Rows named per kind of problem in the summary.
_KIND_ROWS: Final = 5
_MIN_DIGITS: Final = 7
_MAX_DIGITS: Final = 15
_NUMBER_CHARACTERS: Final = re.compile(r"[0-9 +\-()./]+")
_CALLING_CODE: Final = re.compile(r"(?:\+|00)?([1-9][0-9]{0,2})")


def country_code_arg(text: str) -> str:
    """``--default-country-code``: a calling code (``49``, ``+49``, ``0049``) as digits.

    Example:
        >>> country_code_arg("+49"), country_code_arg("1")
        ('49', '1')
    """
    match = _CALLING_CODE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a calling code (1 to 3 digits, e.g. 49): {text!r}")
    return match.group(1)


def recipient_number(value: str, default_country_code: str | None = None) -> str:
    """The recipient as the API takes it: ``+`` and the digits with the country code.

    ``+`` or ``00`` starts an international number (``+49 (0)151 ...`` drops the trunk 0 in
    brackets); a number with a trunk ``0`` (``0151 ...``) or an area code in brackets is
    national and needs ``default_country_code``; other digits are international as written
    (the one rule of :func:`~d360_async._normalise_numbers.phone_digits`). Spaces, dashes,
    dots, slashes and brackets are ignored; any other character is an error. Stricter than
    the hashing of ``ph`` (which follows Meta's matching rules): a message must reach the one
    number meant, so nothing is guessed.

    Raises:
        Invalid: The reason, without the value.

    Example:
        >>> recipient_number("0049 151 2345678"), recipient_number("+49 (0)151 2345678")
        ('+491512345678', '+491512345678')
        >>> recipient_number("0151/2345678", default_country_code="49")
        '+491512345678'
        >>> recipient_number("0151 2345678")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        Invalid: looks like a national number and has no country code: ...
    """
    text = value.strip()
    if not text:
        raise Invalid("is empty")
    if _NUMBER_CHARACTERS.fullmatch(text) is None:
        raise Invalid(
            "contains characters other than digits, +, spaces, dashes, dots, slashes and brackets"
        )
    digits, has_code = phone_digits(text, default_country_code)
    if not has_code:
        raise Invalid(
            "looks like a national number and has no country code: write it with + and "
            "its country code, or pass --default-country-code"
        )
    if digits.startswith("0"):
        raise Invalid("a country code never starts with 0")
    if len(digits) < _MIN_DIGITS:
        raise Invalid("has too few digits for a phone number with its country code")
    if len(digits) > _MAX_DIGITS:
        raise Invalid(f"has more than {_MAX_DIGITS} digits, the most a phone number has")
    return f"+{digits}"


@attrs.frozen
class Problem:
    """What is wrong with one column of one row.

    Attributes:
        row: The row (data records from 1).
        line: The line of the file where the row starts.
        column: The column at fault (None: the whole row).
        reason: What is wrong, without the value.
    """

    row: int
    line: int
    column: str | None
    reason: str

    @property
    def kind(self) -> str:
        """The column and reason: problems of the same kind are counted together.

        Example:
            >>> Problem(3, 4, "to", "is empty").kind
            "column 'to': is empty"
        """
        return self.reason if self.column is None else f"column {self.column!r}: {self.reason}"


class RowChecker:
    """Checks a record's recipient and body parameters.

    Args:
        to_column: The recipient column.
        params: The columns of the body parameters, in order.
        default_country_code: Calling code completing national numbers (None: refuse them).
    """

    def __init__(
        self, *, to_column: str, params: Sequence[str], default_country_code: str | None
    ) -> None:
        self.to_column = to_column
        self.params = tuple(params)
        self.default_country_code = default_country_code

    def check(self, record: Record, *, csv_file: bool) -> tuple[str, list[str]] | list[Problem]:
        """(recipient, body values) of a valid record, else every problem it has."""
        if record.problem is not None:
            return [Problem(record.row, record.line, None, record.problem)]
        missing = "is missing (the row has fewer fields than the header)" if csv_file else None
        problems: list[Problem] = []

        def problem(column: str, reason: str) -> None:
            problems.append(Problem(record.row, record.line, column, reason))

        values = record.values
        to = ""
        raw_to = values.get(self.to_column)
        if self.to_column not in values:
            problem(self.to_column, missing or "is missing")
        elif not isinstance(raw_to, (str, int)) or isinstance(raw_to, bool):
            problem(self.to_column, "is not a phone number")
        else:
            try:
                to = recipient_number(str(raw_to), self.default_country_code)
            except Invalid as exc:
                problem(self.to_column, f"invalid phone number: {exc.reason}")
        body: list[str] = []
        for name in self.params:
            value = values.get(name)
            if name not in values:
                problem(name, missing or "is missing")
            elif value is None or isinstance(value, (dict, list, bool)):
                problem(name, "must be text or a number")
            elif not str(value).strip():
                problem(name, "is empty (a body parameter cannot be blank)")
            else:
                body.append(str(value).strip())
        return problems or (to, body)


def row_ranges(rows: Sequence[int], limit: int = _KIND_ROWS) -> str:
    """Row numbers as ranges, the first ``limit`` of them.

    Example:
        >>> row_ranges([2, 3, 4, 7]), row_ranges(list(range(1, 20, 2)), limit=3)
        ('2-4, 7', '1, 3, 5, ...')
    """
    spans: list[list[int]] = []
    for row in rows:
        if spans and row == spans[-1][1] + 1:
            spans[-1][1] = row
        else:
            spans.append([row, row])
    texts = [str(a) if a == b else f"{a}-{b}" for a, b in spans[:limit]]
    return ", ".join(texts) + (", ..." if len(spans) > limit else "")


@attrs.define
class Validation:
    """What one pass over the file found.

    Attributes:
        rows: Rows read.
        invalid: Rows with at least one problem.
        problems: Problems found (a row may have several).
        kinds: Problems per kind.
        kind_rows: Per kind, the rows that have it (the first few hundred).
    """

    rows: int = 0
    invalid: int = 0
    problems: int = 0
    kinds: Counter[str] = attrs.field(factory=Counter)
    kind_rows: dict[str, list[int]] = attrs.field(factory=dict)

    @property
    def valid(self) -> int:
        """Rows without a problem."""
        return self.rows - self.invalid

    def add(self, problems: Sequence[Problem]) -> None:
        """Count the problems of one invalid row."""
        self.invalid += 1
        self.problems += len(problems)
        for problem in problems:
            self.kinds[problem.kind] += 1
            rows = self.kind_rows.setdefault(problem.kind, [])
            if len(rows) < 1000 and (not rows or rows[-1] != problem.row):
                rows.append(problem.row)

    def by_kind(self) -> list[str]:
        """``301 rows (2-302): column 'first_name': is empty ...``, most frequent first."""
        return [
            f"  {plural(count, 'row')} ({row_ranges(self.kind_rows[kind])}): {kind}"
            for kind, count in self.kinds.most_common()
        ]


def default_rejected_path(source: str) -> str:
    """``customers.csv`` → ``customers.rejected.csv`` (beside it).

    Example:
        >>> default_rejected_path("data/customers.csv")
        'data/customers.rejected.csv'
    """
    path = Path(source)
    return str(path.with_name(path.stem + ".rejected.csv"))


def check_file(
    ctx: Context,
    source: InputFile,
    check: Callable[[Record], tuple[str, list[str]] | list[Problem]],
    *,
    skip_invalid: bool,
    rejected_path: str,
) -> Validation:
    """Check every row of ``source`` in one pass.

    Without ``skip_invalid``, problems are listed on stderr (the first :data:`LISTED`, every
    one with ``--verbose``) with a count per kind, and any invalid row raises. With it, they
    go to ``rejected_path`` and the counts to stderr.

    Raises:
        UsageError: Invalid rows without ``skip_invalid``; no valid row at all; no row.
    """
    result = Validation()
    rejected = CsvFile(rejected_path, REJECTED_ROW_COLUMNS) if skip_invalid else None
    listed = 0
    try:
        for record in source.records(lenient=True):
            result.rows += 1
            checked = check(record)
            if not isinstance(checked, list):
                continue
            result.add(checked)
            for problem in checked:
                if rejected is not None:
                    rejected.write((problem.row, problem.line, problem.column, problem.reason))
                elif ctx.verbose or listed < LISTED:
                    listed += 1
                    column = f", column {problem.column!r}" if problem.column else ""
                    ctx.note(f"{source.where(record)}{column}: {problem.reason}")
    finally:
        if rejected is not None and not rejected.close():
            ctx.note(f"removed {rejected_path} (from an earlier run: no row is invalid now)")
    if result.rows == 0:
        raise UsageError(f"{source.name} has no rows to send")
    if result.invalid == 0:
        return result
    if result.problems > listed and rejected is None:
        more = plural(result.problems - listed, "more problem")
        ctx.note(f"... and {more} (--verbose lists every one)")
    ctx.note("invalid rows by kind of problem:")
    for line in result.by_kind():
        ctx.note(line)
    if rejected is None:
        raise UsageError(
            f"{source.name}: {result.invalid:,} of {plural(result.rows, 'row')} "
            f"{'is' if result.invalid == 1 else 'are'} invalid (listed above); nothing was sent. "
            f"Fix them, or pass --skip-invalid to send the {plural(result.valid, 'valid row')} "
            f"and write the invalid ones to {rejected_path}"
        )
    if result.valid == 0:
        raise UsageError(f"{source.name}: no valid row to send (problems: {rejected_path})")
    ctx.note(f"{plural(result.invalid, 'invalid row')} not sent: see {rejected_path}")
    return result
