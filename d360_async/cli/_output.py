"""Results of the read commands as a table, CSV or JSON.

- JSON: the API's own documents; a listing is always a list of objects, whatever the data.
- CSV: one column per value: a nested object becomes ``column.key`` columns and a Graph
  action list (``[{"action_type": "link_click", "value": "5", "1d_click": "3"}]``) becomes
  ``column.link_click`` (and ``column.link_click.1d_click``) columns.
- Table: for reading; nested values are shown compactly (``email 90%, phone 80%``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any, Final

from rich import box
from rich.table import Table

from ._common import Context, UsageError

__all__ = ["FORMATS", "CsvFile", "cell", "emit", "flatten", "json_default"]

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


def _is_action_list(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(item, Mapping) and "action_type" in item for item in value)
    )


def _expand(prefix: str, value: Any) -> dict[str, Any] | None:
    """The sub-columns of a nested value (None when it is not nested)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_expand(f"{prefix}.{key}", item) or {f"{prefix}.{key}": item})
        return out
    if _is_action_list(value):
        out = {}
        for action in value:
            name = f"{prefix}.{action['action_type']}"
            out[name] = action.get("value")
            for key, item in action.items():
                if key not in ("action_type", "value"):
                    out[f"{name}.{key}"] = item
        return out
    return None


def flatten(
    columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[list[str], list[list[Any]]]:
    """Nested values as columns of their own (see the module's docstring).

    Example:
        >>> flatten(["event", "keys"], [["Purchase", {"email": "90%"}], ["Lead", None]])
        (['event', 'keys.email'], [['Purchase', '90%'], ['Lead', None]])
        >>> flatten(["actions"], [[[{"action_type": "link_click", "value": "5"}]]])
        (['actions.link_click'], [['5']])
    """
    expanded = [
        [_expand(name, value) for name, value in zip(columns, row, strict=True)] for row in rows
    ]
    out_columns: list[str] = []
    for i, name in enumerate(columns):
        subs = [sub for parts in expanded if (sub := parts[i]) is not None]
        if subs:
            out_columns.extend(dict.fromkeys(key for sub in subs for key in sub))
        else:
            out_columns.append(name)
    out_rows: list[list[Any]] = []
    for row, parts in zip(rows, expanded, strict=True):
        values: dict[str, Any] = {}
        for name, value, sub in zip(columns, row, parts, strict=True):
            values.update(sub if sub is not None else {name: value})
        out_rows.append([values.get(name) for name in out_columns])
    return out_columns, out_rows


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
        rows: One sequence of values per row (table and CSV); nested values are flattened
            into columns in CSV.
        raw: What JSON output shows: the API's own documents (a list for a listing).
        title: Caption of the table.
    """
    if fmt == "json":
        json.dump(raw, sys.stdout, indent=2, ensure_ascii=False, default=json_default)
        sys.stdout.write("\n")
    elif fmt == "csv":
        flat_columns, flat_rows = flatten(columns, rows)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(flat_columns)
        writer.writerows([cell(v) for v in row] for row in flat_rows)
    else:
        ctx.out.print(table(columns, rows, title=title))
    sys.stdout.flush()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {_text(item)}" for key, item in value.items())
    if _is_action_list(value):
        return ", ".join(f"{a['action_type']} {_text(a.get('value'))}" for a in value)
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


class CsvFile:
    """A CSV file of rows the user asked for (rejected rows, rejected events), with a header;
    opened on the first row, or at once with ``always``.

    Args:
        path: Where it goes.
        columns: Its header.
        always: Create it even if no row is ever written.
    """

    def __init__(self, path: str, columns: Sequence[str], *, always: bool = False) -> None:
        self.path = path
        self.columns = tuple(columns)
        self.rows = 0
        self._stream: IO[str] | None = None
        self._writer: Any = None
        if always:
            self._open()

    def _open(self) -> None:
        try:
            self._stream = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        self._writer = csv.writer(self._stream, lineterminator="\n")
        self._writer.writerow(self.columns)

    def write(self, row: Sequence[Any]) -> None:
        """Append one row."""
        if self._stream is None:
            self._open()
        self._writer.writerow(row)
        self.rows += 1

    def close(self) -> bool:
        """Close it (if it was opened). A file at its path that this run did not write (no
        row, not ``always``) is left from an earlier run: it is removed, since it no longer
        says what happened. Returns False when it did that."""
        if self._stream is not None:
            self._stream.close()
            return True
        if self.path and os.path.isfile(self.path):
            with contextlib.suppress(OSError):
                os.remove(self.path)
                return False
        return True
