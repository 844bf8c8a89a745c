"""Results of the read commands as a table, CSV or JSON."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

from rich import box
from rich.table import Table

from ._common import Context

__all__ = ["FORMATS", "cell", "emit", "json_default"]

FORMATS: Final = ("table", "csv", "json")


def cell(value: Any) -> str:
    """One value as text: nothing for None, compact JSON for lists and objects.

    Example:
        >>> cell(None), cell(3), cell(["a", "b"]), cell({"k": 1})
        ('', '3', '["a","b"]', '{"k":1}')
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple, Mapping)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=json_default)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def json_default(value: Any) -> Any:
    """JSON for what ``json`` cannot encode itself: mappings as objects, the rest as text.

    Example:
        >>> from types import MappingProxyType
        >>> json_default(MappingProxyType({"a": 1})), json_default(object)
        ({'a': 1}, "<class 'object'>")
    """
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def emit(
    ctx: Context,
    fmt: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    raw: Any,
    *,
    title: str | None = None,
) -> None:
    """Write a result in the chosen format.

    Args:
        ctx: Where to write.
        fmt: ``table``, ``csv`` or ``json``.
        columns: Column names (table and CSV).
        rows: One sequence of values per row (table and CSV).
        raw: What JSON output shows: the API's own documents.
        title: Caption of the table.
    """
    if fmt == "json":
        json.dump(raw, sys.stdout, indent=2, ensure_ascii=False, default=json_default)
        sys.stdout.write("\n")
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([cell(v) for v in row] for row in rows)
    else:
        ctx.out.print(table(columns, rows, title=title))
    sys.stdout.flush()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return cell(value)


def _numeric(value: Any) -> bool:
    if _is_number(value) or value is None:
        return True
    if isinstance(value, str):
        try:
            float(value.replace(",", ""))
        except ValueError:
            return False
        return True
    return False


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None) -> Table:
    """A rich table: numbers right-aligned, short columns never wrapped."""
    result = Table(
        title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False, pad_edge=False
    )
    for i, name in enumerate(columns):
        values = [row[i] for row in rows]
        is_id = name == "id" or name.endswith("_id")
        right = bool(rows) and not is_id and all(_numeric(v) for v in values)
        short = max((len(_text(v)) for v in values), default=0) <= 20
        result.add_column(
            name, justify="right" if right else "left", no_wrap=short, overflow="fold"
        )
    for row in rows:
        result.add_row(*(_text(v) for v in row))
    if not rows:
        result.caption = "(none)"
    return result
